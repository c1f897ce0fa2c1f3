#!/usr/bin/env bash
# The GPU run of issue 15, as one script for a GPU node with a pip torch and no Java: unpacks the
# portable bundle, gets a JNI for the node's torch (DJL's own cu128 JNI when the symbol check passes,
# else one built from the bundle's DJL sources), runs the device check and our timings, then the
# PyTorch anchor on the same card, and leaves every log and JSON under OUT.
#
#   bench/gpu-run.sh BUNDLE.tar.xz OUT [--small]
#     BUNDLE.tar.xz  from jobs/bin/spt-bundle --djl-src <DJL v0.35.1 checkout>
#     --small        the CPU-sized preset (how this script is tested on a machine without a GPU;
#                    then SPT_TORCH_HOME names the torch, and the anchor runs only where python's torch has CUDA)
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: bench/gpu-run.sh BUNDLE.tar.xz OUT [--small]" >&2; exit 2; }
bundle_tar="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$2"
small="${3:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"
exec > >(tee -a "$out/run.log") 2>&1
step() { echo "gpu-run: $(date -u +%H:%M:%S) $*"; }

work="$(mktemp -d)"
step "unpacking $bundle_tar"
tar -xJf "$bundle_tar" -C "$work"
spt="$work/spt-bundle/bin/spt"
export DJL_CACHE_DIR="$work/djl-cache"
torch="${SPT_TORCH_HOME:-auto}"

step "machine"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")' 2>/dev/null || echo "no python torch"
} | tee "$out/machine.txt"

step "natives: DJL's own JNI if it matches the installed libtorch"
if ! "$spt" --torch "$torch" natives >"$out/natives.txt" 2>"$out/natives.err"; then
  cat "$out/natives.err"
  [[ -x "$work/spt-bundle/bin/build-jni" ]] || { step "the bundle has no DJL sources (built without --djl-src)"; exit 1; }
  step "building DJL's JNI for this torch (bin/build-jni)"
  # shellcheck disable=SC2086
  "$work/spt-bundle/bin/build-jni" --python python3 --jobs "$(nproc)" ${SPT_BUILD_JNI_ARGS:-} | tee "$out/build-jni.log"
  "$spt" --torch "$torch" natives >"$out/natives.txt"
fi
cat "$out/natives.txt"

step "device check and our timings"
check_args=(bench gpu --json "$out/ours.json")
[[ "$small" == --small ]] && check_args+=(--small)
"$spt" --torch "$torch" "${check_args[@]}" | tee "$out/ours.txt" || step "the device check reported a failure (see ours.txt)"

if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step "PyTorch anchor on the same device"
  if [[ "$small" == --small ]]; then
    python3 "$here/gpu_anchor.py" sensitivity 4 2 | tee "$out/anchor-sensitivity.jsonl"
  else
    python3 "$here/gpu_anchor.py" sensitivity 32 16 | tee "$out/anchor-sensitivity.jsonl"
    python3 "$here/gpu_anchor.py" 64 5 | tee "$out/anchor-train.jsonl"
  fi
else
  step "no python torch with a CUDA device: the PyTorch anchor (CUDA only) is skipped"
fi
step "done; figures in $out"
