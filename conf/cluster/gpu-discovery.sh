#!/usr/bin/env bash
# Spark GPU discovery script: prints this node's NVIDIA GPU addresses as Spark expects,
# e.g. {"name": "gpu", "addresses": ["0", "1"]}. Needs nvidia-smi on the node.
set -euo pipefail
addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader | sed -e 's/^ *//' -e 's/.*/"&"/' | paste -sd, -)
echo "{\"name\": \"gpu\", \"addresses\": [${addresses}]}"
