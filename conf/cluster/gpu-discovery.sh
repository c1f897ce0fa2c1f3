#!/usr/bin/env bash
# Spark GPU discovery script (spark.worker.resource.gpu.discoveryScript): prints this node's NVIDIA
# GPU addresses as Spark expects, e.g. {"name": "gpu", "addresses": ["0","1"]}, and
# {"name": "gpu", "addresses": []} on a node without GPUs. Needs nvidia-smi on the PATH; any
# failure is one line on stderr and a non-zero exit, which Spark reports when the Worker starts.
set -euo pipefail
me=$(basename "$0")
if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "$me: nvidia-smi not found on PATH ($PATH); install the NVIDIA driver on this node or drop spark.worker.resource.gpu.* from its configuration" >&2
  exit 1
fi
if ! indices=$(nvidia-smi --query-gpu=index --format=csv,noheader); then
  echo "$me: 'nvidia-smi --query-gpu=index --format=csv,noheader' failed; is the NVIDIA driver loaded?" >&2
  exit 1
fi
addresses=""
while IFS= read -r line; do
  index=$(echo "$line" | sed -e 's/^ *//' -e 's/ *$//')
  [ -z "$index" ] && continue
  if ! [[ "$index" =~ ^[0-9]+$ ]]; then
    echo "$me: nvidia-smi printed '$line' where a GPU index was expected" >&2
    exit 1
  fi
  addresses="${addresses:+$addresses,}\"$index\""
done <<< "$indices"
echo "{\"name\": \"gpu\", \"addresses\": [${addresses}]}"
