#!/usr/bin/env bash
# build-djl-jni.sh: build DJL 0.35.1's PyTorch JNI (libdjl_torch.so) from DJL's own sources
# against an INSTALLED libtorch (typically the pip `torch` of a GPU node), and install it
# where DJL 0.35.1 looks for it.
#
# Why: DJL 0.35.1 ships a JNI only for libtorch 2.7.1 (cpu, cu128). A node whose torch is
# another version (e.g. pip torch 2.11.0+cu130) needs a JNI compiled against that torch.
# Nothing here needs Java at run time of the script except for generating the JNI header,
# which can be done elsewhere beforehand (--jni-header); python is optional when
# --torch-lib and --torch-include are given.
#
# Patches applied to a COPY of DJL's sources (the given --djl-src is never modified):
#  1. djl_pytorch_utils.h, GetScalarTypeFromDType / GetDTypeFromScalarType:
#     DJL 0.35.1 maps the Java ai.djl.ndarray.types.DataType ordinals only for 0..8
#     (FLOAT32 .. COMPLEX64). BFLOAT16 (ordinal 11) is missing, and the default branch of
#     GetScalarTypeFromDType is a bare `throw;` with no active exception, which calls
#     std::terminate and aborts the whole JVM on e.g. NDArray.toType(BFLOAT16, ..); in the
#     other direction a bf16 tensor reports dtype 9 (UNKNOWN). The patch adds
#        11 BFLOAT16 <-> torch::kBFloat16, 15 INT16 <-> torch::kInt16,
#        12 UINT64 / 13 UINT32 / 14 UINT16 <-> torch::kUInt64 / kUInt32 / kUInt16
#        (the unsigned ones only when the torch headers are >= 2.3, where they exist),
#     and makes the default branch throw std::invalid_argument, which DJL's API_END()
#     turns into a Java ai.djl.engine.EngineException instead of killing the JVM.
#     This is what makes the project's bf16 mixed precision work with this JNI.
#  2. djl_pytorch_utils.h, GetInterpolationMode: the same bare `throw;` for an unknown
#     interpolation mode becomes a std::invalid_argument (EngineException in Java).
#  Both are skipped (no-op) when the sources already map kBFloat16 / have no bare throw.
#  3. Language standard: newer libtorch headers (2.14.1 checked; 2.10 and 2.11 not) refuse C++17 ("#error C++20 or later
#     compatible compiler is required to use ATen"); the script compiles with -std=c++20
#     when the headers say so, with -std=c++17 otherwise (what DJL's CMakeLists uses).
#     DJL's .cc files need no source change for that (checked with g++ 12 -fsyntax-only
#     against libtorch 2.14.1 headers; compiled against 2.6.0 headers).
#  4. ai_djl_pytorch_jni_PyTorchLibrary_tensor.cc, torchTo (NDArray.toType/toDevice): runs under a
#     torch::NoGradGuard, so a cast cuts the autograd graph; bf16 autocast casts weights and
#     activations to bf16 and back, so the guard is removed from that one function.
#
# Usage (GPU node with pip torch, JNI header generated beforehand where javac exists):
#   conf/cluster/build-djl-jni.sh --djl-src /path/to/djl --jni-header /path/to/hdr \
#       --jni-include /path/to/jdk/include
# Usage (no python): add --torch-lib DIR --torch-include DIR [--flavor cpu|cuNNN] [--version X.Y.Z]
# See --help for every option.
set -euo pipefail

DJL_VERSION=0.35.1
DJL_TAG="v${DJL_VERSION}"
NATIVE_SUB=engines/pytorch/pytorch-native/src/main/native
UTILS_SUB=api/src/main/native
JAVA_SUB=engines/pytorch/pytorch-engine/src/main/java
LIB_JAVA=ai/djl/pytorch/jni/PyTorchLibrary.java
JNI_H=ai_djl_pytorch_jni_PyTorchLibrary.h

log() { echo "build-djl-jni: $*"; }
die() { echo "build-djl-jni: ERROR: $*" >&2; exit 1; }

usage() {
  cat <<EOF
Usage: $0 --djl-src DIR [options]

Builds DJL ${DJL_VERSION}'s PyTorch JNI (libdjl_torch.so) against an installed libtorch.

  --djl-src DIR        DJL sources: a checkout at ${DJL_TAG}, a git repository (bare or not) that has
                       the tag ${DJL_TAG} (the tag is exported), or a folder with just the subpaths
                       ${NATIVE_SUB} and ${UTILS_SUB}
  --jni-header DIR     folder with ${JNI_H} (from javac -h); default: generated with javac
                       from ${JAVA_SUB}/${LIB_JAVA} in --djl-src
  --classpath CP       class path for that javac run (normally not needed)
  --jni-include DIR    JDK include folder with jni.h and linux/jni_md.h (default \$JAVA_HOME/include,
                       else the JDK of javac on PATH)
  --torch-lib DIR      folder with libtorch.so, libtorch_cpu.so, libc10.so (default: from python torch)
  --torch-include DIR  libtorch include root (has torch/script.h; default: from python torch)
  --cuda-include DIR   extra include folder for CUDA headers (may repeat; default: python torch's,
                       \$CUDA_HOME/include, /usr/local/cuda/include, pip nvidia/*/include)
  --python PY          python with torch (default python3)
  --flavor F           cpu or cuNNN, e.g. cu130 (default: from torch.version.cuda, else cpu)
  --version X.Y.Z      libtorch version (default: torch.__version__ without +suffix, else the headers')
  --abi 0|1            _GLIBCXX_USE_CXX11_ABI (default: python torch's, else read from libc10.so)
  --out FILE           where to install (default: DJL's cache path, see below)
  --build-dir DIR      work folder (default: a new temporary folder, removed on success)
  --jobs N             parallel compiles (default nproc)
  --cxx CXX            C++ compiler (default \$CXX or g++)
  --syntax-only        only compile with -fsyntax-only (compatibility check), build nothing
  -h, --help           this text

Default --out: \${ENGINE_CACHE_DIR:-\${DJL_CACHE_DIR:-\$HOME/.djl.ai}}/pytorch/<version>-<flavor>-linux-<arch>/${DJL_VERSION}-libdjl_torch.so
which DJL ${DJL_VERSION} loads when PYTORCH_LIBRARY_PATH, PYTORCH_VERSION and PYTORCH_FLAVOR are set
(a file named ${DJL_VERSION}-libdjl_torch.so or libdjl_torch.so inside PYTORCH_LIBRARY_PATH wins over it).
EOF
}

DJL_SRC="" JNI_HEADER_DIR="" CLASSPATH_OPT="" JNI_INCLUDE="" TORCH_LIB="" TORCH_INCLUDE=""
CUDA_INCLUDES=() PYTHON="${PYTHON:-python3}" FLAVOR="" VERSION="" ABI="" OUT="" BUILD_DIR=""
JOBS="" CXX_BIN="${CXX:-g++}" SYNTAX_ONLY=0

need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "option $1 needs a value"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --djl-src) need_arg "$@"; DJL_SRC="$2"; shift 2 ;;
    --jni-header) need_arg "$@"; JNI_HEADER_DIR="$2"; shift 2 ;;
    --classpath) need_arg "$@"; CLASSPATH_OPT="$2"; shift 2 ;;
    --jni-include) need_arg "$@"; JNI_INCLUDE="$2"; shift 2 ;;
    --torch-lib) need_arg "$@"; TORCH_LIB="$2"; shift 2 ;;
    --torch-include) need_arg "$@"; TORCH_INCLUDE="$2"; shift 2 ;;
    --cuda-include) need_arg "$@"; CUDA_INCLUDES+=("$2"); shift 2 ;;
    --python) need_arg "$@"; PYTHON="$2"; shift 2 ;;
    --flavor) need_arg "$@"; FLAVOR="$2"; shift 2 ;;
    --version) need_arg "$@"; VERSION="$2"; shift 2 ;;
    --abi) need_arg "$@"; ABI="$2"; shift 2 ;;
    --out) need_arg "$@"; OUT="$2"; shift 2 ;;
    --build-dir) need_arg "$@"; BUILD_DIR="$2"; shift 2 ;;
    --jobs) need_arg "$@"; JOBS="$2"; shift 2 ;;
    --cxx) need_arg "$@"; CXX_BIN="$2"; shift 2 ;;
    --syntax-only) SYNTAX_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

[[ "$(uname -s)" == Linux ]] || die "only Linux is supported (found $(uname -s))"
case "$(uname -m)" in
  x86_64|amd64) CLASSIFIER=linux-x86_64 ;;
  aarch64|arm64) CLASSIFIER=linux-aarch64 ;;
  *) die "unsupported machine $(uname -m)" ;;
esac
command -v "$CXX_BIN" >/dev/null 2>&1 || die "no C++ compiler: '$CXX_BIN' not found (install g++ or pass --cxx)"
[[ -n "$DJL_SRC" ]] || die "missing --djl-src DIR (DJL ${DJL_TAG} checkout, git repo with that tag, or the extracted native subpaths)"
[[ -d "$DJL_SRC" ]] || die "--djl-src $DJL_SRC is not a folder"
if [[ -z "$JOBS" ]]; then JOBS=$(nproc 2>/dev/null || echo 1); fi
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number (got '$JOBS')"
if [[ -n "$FLAVOR" && ! "$FLAVOR" =~ ^(cpu|cu[0-9]+)$ ]]; then die "--flavor must be cpu or cuNNN (got '$FLAVOR')"; fi
if [[ -n "$ABI" && ! "$ABI" =~ ^[01]$ ]]; then die "--abi must be 0 or 1 (got '$ABI')"; fi

# ---------------------------------------------------------------- work folder
KEEP_BUILD=1
if [[ -z "$BUILD_DIR" ]]; then
  BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/build-djl-jni.XXXXXX")
  KEEP_BUILD=0
fi
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
log "work folder: $BUILD_DIR"

# ---------------------------------------------------------------- DJL sources (copied, then patched)
SRC="$BUILD_DIR/src"
rm -rf "$SRC"
mkdir -p "$SRC"
if [[ -f "$DJL_SRC/$NATIVE_SUB/djl_pytorch_utils.h" && -f "$DJL_SRC/$UTILS_SUB/djl/utils.h" ]]; then
  log "DJL sources: folder $DJL_SRC"
  mkdir -p "$SRC/$NATIVE_SUB" "$SRC/$UTILS_SUB"
  cp -R "$DJL_SRC/$NATIVE_SUB/." "$SRC/$NATIVE_SUB/"
  cp -R "$DJL_SRC/$UTILS_SUB/." "$SRC/$UTILS_SUB/"
  if [[ -f "$DJL_SRC/$JAVA_SUB/$LIB_JAVA" ]]; then
    mkdir -p "$SRC/$JAVA_SUB/$(dirname "$LIB_JAVA")"
    cp "$DJL_SRC/$JAVA_SUB/$LIB_JAVA" "$SRC/$JAVA_SUB/$LIB_JAVA"
  fi
  if [[ -f "$DJL_SRC/gradle/libs.versions.toml" ]] && ! grep -q "^djl *= *\"${DJL_VERSION}\"" "$DJL_SRC/gradle/libs.versions.toml"; then
    log "WARNING: $DJL_SRC does not look like DJL ${DJL_VERSION} (gradle/libs.versions.toml); the JNI must match DJL ${DJL_VERSION}'s Java side"
  fi
elif command -v git >/dev/null 2>&1 && git -C "$DJL_SRC" rev-parse --verify -q "${DJL_TAG}^{commit}" >/dev/null 2>&1; then
  log "DJL sources: tag ${DJL_TAG} of git repository $DJL_SRC"
  git -C "$DJL_SRC" archive "$DJL_TAG" "$NATIVE_SUB" "$UTILS_SUB" "$JAVA_SUB/$LIB_JAVA" | tar -x -C "$SRC"
else
  die "--djl-src $DJL_SRC has neither $NATIVE_SUB/djl_pytorch_utils.h + $UTILS_SUB/djl/utils.h nor a git tag ${DJL_TAG}"
fi
NATIVE="$SRC/$NATIVE_SUB"
mapfile -t CC_FILES < <(cd "$NATIVE" && ls ./*.cc | sed 's|^\./||' | sort)
[[ ${#CC_FILES[@]} -gt 0 ]] || die "no .cc files in $NATIVE"
log "DJL native sources: ${#CC_FILES[@]} .cc files"

UTILS_H="$NATIVE/djl_pytorch_utils.h"
if grep -q 'kBFloat16' "$UTILS_H"; then
  log "patch 1 (dtype mapping): sources already map kBFloat16, left as is"
else
  awk '
    BEGIN { fn = "" }
    /^inline .*GetDTypeFromScalarType\(/ { fn = "to_j" }
    /^inline .*GetScalarTypeFromDType\(/ { fn = "from_j" }
    /^inline .*GetInterpolationMode\(/ { fn = "interp" }
    /^}/ { fn = "" }
    fn == "to_j" && /else if \(torch::kComplexFloat == type\)/ {
      print "  } else if (torch::kBFloat16 == type) {  // build-djl-jni.sh patch"
      print "    return 11;"
      print "  } else if (torch::kInt16 == type) {"
      print "    return 15;"
      print "#if DJL_JNI_HAS_UINT_TYPES"
      print "  } else if (torch::kUInt64 == type) {"
      print "    return 12;"
      print "  } else if (torch::kUInt32 == type) {"
      print "    return 13;"
      print "  } else if (torch::kUInt16 == type) {"
      print "    return 14;"
      print "#endif"
      n_to++; print; next
    }
    fn == "from_j" && /^[ \t]*default:/ {
      print "    case 11:  // build-djl-jni.sh patch"
      print "      return torch::kBFloat16;"
      print "    case 15:"
      print "      return torch::kInt16;"
      print "#if DJL_JNI_HAS_UINT_TYPES"
      print "    case 12:"
      print "      return torch::kUInt64;"
      print "    case 13:"
      print "      return torch::kUInt32;"
      print "    case 14:"
      print "      return torch::kUInt16;"
      print "#endif"
      n_from++; print; next
    }
    fn == "from_j" && /^[ \t]*throw;/ {
      print "      throw std::invalid_argument(\"DJL JNI: unsupported DataType ordinal \" + std::to_string(dtype));"
      n_throw++; fn = ""; next
    }
    fn == "interp" && /^[ \t]*throw;/ {
      print "      throw std::invalid_argument(\"DJL JNI: unsupported interpolation mode \" + std::to_string(jmode));"
      n_throw++; fn = ""; next
    }
    /^#include "djl_pytorch_jni_log.h"/ && !inc_done {
      print
      print "// build-djl-jni.sh patch: unsigned 16/32/64-bit dtypes exist from libtorch 2.3 on"
      print "#include <stdexcept>"
      print "#include <string>"
      print "#include <torch/version.h>"
      print "#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3))"
      print "#define DJL_JNI_HAS_UINT_TYPES 1"
      print "#else"
      print "#define DJL_JNI_HAS_UINT_TYPES 0"
      print "#endif"
      inc_done = 1; next
    }
    { print }
    END {
      if (n_to != 1 || n_from != 1 || !inc_done) exit 3
      printf "%d\n", n_throw > "/dev/stderr"
    }
  ' "$UTILS_H" > "$UTILS_H.patched" 2> "$BUILD_DIR/patch1.log" \
    || die "patch 1 (dtype mapping) did not apply: djl_pytorch_utils.h is not what DJL ${DJL_VERSION} has"
  mv "$UTILS_H.patched" "$UTILS_H"
  log "patch 1 (dtype mapping): added BFLOAT16=11, INT16=15, UINT64/32/16=12/13/14 (torch>=2.3); bare throws replaced: $(cat "$BUILD_DIR/patch1.log")"
fi

# patch 4: a differentiable cast. torchTo (NDArray.toType / toDevice) runs under a NoGradGuard, so a cast
# cuts the autograd graph: bf16 autocast (cast the fp32 weights and activations to bf16, multiply, cast back)
# would leave every weight without a gradient. Only that function's guard is removed; a cast of a tensor
# that needs no gradient records nothing either way.
TENSOR_CC="$SRC/$NATIVE_SUB/ai_djl_pytorch_jni_PyTorchLibrary_tensor.cc"
if awk '/PyTorchLibrary_torchTo\(/ { f = 1 } f && /NoGradGuard/ { found = 1; exit } f && /^}/ { exit } END { exit !found }' "$TENSOR_CC"; then
  awk '/PyTorchLibrary_torchTo\(/ { f = 1 } f && /NoGradGuard/ { print "  // build-djl-jni.sh patch 4: no NoGradGuard, the cast is differentiable"; f = 0; next } f && /^}/ { f = 0 } { print }' \
    "$TENSOR_CC" > "$TENSOR_CC.patched" && mv "$TENSOR_CC.patched" "$TENSOR_CC"
  grep -q 'build-djl-jni.sh patch 4' "$TENSOR_CC" || die "patch 4 (differentiable cast) did not apply to $TENSOR_CC"
  log "patch 4 (differentiable cast): torchTo no longer disables autograd"
else
  log "patch 4 (differentiable cast): torchTo has no NoGradGuard, left as is"
fi

# ---------------------------------------------------------------- torch: python probe (optional)
PY_VERSION="" PY_CUDA="" PY_ABI="" PY_LIB="" PY_INCLUDE="" PY_CUDA_HOME="" PY_SITE=""
if [[ -z "$TORCH_LIB" || -z "$TORCH_INCLUDE" || -z "$VERSION" || -z "$FLAVOR" || -z "$ABI" ]] \
    && command -v "$PYTHON" >/dev/null 2>&1; then
  if PROBE=$("$PYTHON" - 2>"$BUILD_DIR/python-probe.log" <<'PYEOF'
import os
import torch
print("version=" + torch.__version__.split("+")[0])
print("cuda=" + (torch.version.cuda or ""))
print("abi=%d" % int(torch._C._GLIBCXX_USE_CXX11_ABI))
print("lib=" + os.path.join(os.path.dirname(torch.__file__), "lib"))
print("site=" + os.path.dirname(os.path.dirname(torch.__file__)))
inc = []
try:
    from torch.utils import cpp_extension as c
    print("cuda_home=" + (c.CUDA_HOME or ""))
    try:
        inc = c.include_paths(device_type="cuda" if torch.version.cuda else "cpu")
    except TypeError:
        try:
            inc = c.include_paths(cuda=bool(torch.version.cuda))
        except Exception:
            inc = c.include_paths()
    except Exception:
        inc = c.include_paths()
except Exception:
    base = os.path.join(os.path.dirname(torch.__file__), "include")
    inc = [base, os.path.join(base, "torch", "csrc", "api", "include")]
print("include=" + ":".join(inc))
PYEOF
  ); then
    while IFS='=' read -r k v; do
      case "$k" in
        version) PY_VERSION="$v" ;; cuda) PY_CUDA="$v" ;; abi) PY_ABI="$v" ;; lib) PY_LIB="$v" ;;
        include) PY_INCLUDE="$v" ;; cuda_home) PY_CUDA_HOME="$v" ;; site) PY_SITE="$v" ;;
      esac
    done <<< "$PROBE"
    log "python torch: $PY_VERSION (cuda '${PY_CUDA}', cxx11 abi $PY_ABI) in $PY_LIB"
  else
    log "python '$PYTHON' has no importable torch ($(tail -n 1 "$BUILD_DIR/python-probe.log")); using explicit options only"
  fi
fi

[[ -n "$TORCH_LIB" ]] || TORCH_LIB="$PY_LIB"
[[ -n "$TORCH_LIB" ]] || die "missing --torch-lib DIR (folder with libtorch.so; no python torch to ask)"
[[ -d "$TORCH_LIB" ]] || die "--torch-lib $TORCH_LIB is not a folder"
TORCH_LIB=$(cd "$TORCH_LIB" && pwd)
for l in libtorch.so libtorch_cpu.so libc10.so; do
  [[ -e "$TORCH_LIB/$l" ]] || die "$l not found in torch lib folder $TORCH_LIB"
done

INCLUDE_DIRS=()
if [[ -n "$TORCH_INCLUDE" ]]; then
  [[ -d "$TORCH_INCLUDE" ]] || die "--torch-include $TORCH_INCLUDE is not a folder"
  INCLUDE_DIRS+=("$TORCH_INCLUDE" "$TORCH_INCLUDE/torch/csrc/api/include")
elif [[ -n "$PY_INCLUDE" ]]; then
  IFS=':' read -r -a INCLUDE_DIRS <<< "$PY_INCLUDE"
else
  die "missing --torch-include DIR (libtorch include root with torch/script.h; no python torch to ask)"
fi
TORCH_INC_ROOT=""
for d in "${INCLUDE_DIRS[@]}"; do
  if [[ -f "$d/torch/script.h" ]]; then TORCH_INC_ROOT="$d"; break; fi
done
[[ -n "$TORCH_INC_ROOT" ]] || die "torch/script.h not found in include folders: ${INCLUDE_DIRS[*]}"

# version: option, python, else the headers' TORCH_VERSION_MAJOR/MINOR/PATCH
HDR_VERSION=""
for vh in "$TORCH_INC_ROOT/torch/csrc/api/include/torch/version.h" "$TORCH_INC_ROOT/torch/headeronly/version.h" "$TORCH_INC_ROOT/torch/version.h"; do
  [[ -f "$vh" ]] || continue
  maj=$(sed -n 's/^#define TORCH_VERSION_MAJOR \([0-9]*\).*/\1/p' "$vh" | head -n 1)
  min=$(sed -n 's/^#define TORCH_VERSION_MINOR \([0-9]*\).*/\1/p' "$vh" | head -n 1)
  pat=$(sed -n 's/^#define TORCH_VERSION_PATCH \([0-9]*\).*/\1/p' "$vh" | head -n 1)
  if [[ -n "$maj" && -n "$min" && -n "$pat" ]]; then HDR_VERSION="$maj.$min.$pat"; break; fi
done
if [[ -z "$VERSION" ]]; then VERSION="$PY_VERSION"; fi
if [[ -z "$VERSION" ]]; then VERSION="$HDR_VERSION"; fi
[[ -n "$VERSION" ]] || die "missing --version X.Y.Z (no python torch, and no TORCH_VERSION_* in the headers)"
VERSION="${VERSION%%+*}"
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--version must look like 2.11.0 (got '$VERSION')"
if [[ -n "$HDR_VERSION" && "$HDR_VERSION" != "$VERSION" ]]; then
  log "WARNING: the headers in $TORCH_INC_ROOT are libtorch $HDR_VERSION, not $VERSION: use the headers of the libtorch in --torch-lib"
fi

# flavor: option, python torch.version.cuda, else cpu (refused when the lib folder has CUDA libs)
if [[ -z "$FLAVOR" ]]; then
  if [[ -n "$PY_CUDA" ]]; then
    FLAVOR="cu$(echo "$PY_CUDA" | awk -F. '{print $1 $2}')"
  elif [[ -e "$TORCH_LIB/libtorch_cuda.so" ]]; then
    die "missing --flavor cuNNN: $TORCH_LIB has libtorch_cuda.so but no python torch says which CUDA"
  else
    FLAVOR=cpu
  fi
fi

# C++ ABI: option, python, else whether libc10.so exports std::__cxx11 symbols
if [[ -z "$ABI" ]]; then ABI="$PY_ABI"; fi
if [[ -z "$ABI" ]]; then
  command -v nm >/dev/null 2>&1 || die "missing --abi 0|1 (no python torch and no nm to read libc10.so)"
  n_cxx11=$(nm -D --defined-only "$TORCH_LIB/libc10.so" | grep -c '__cxx11' || true)
  if [[ "${n_cxx11:-0}" -gt 0 ]]; then ABI=1; else ABI=0; fi
fi

# C++ standard: what the headers demand (libtorch >= 2.10 needs C++20), else C++17 like DJL
CXX_STD=c++17
if grep -qs 'C++20 or later' "$TORCH_INC_ROOT/ATen/ATen.h" "$TORCH_INC_ROOT/torch/csrc/api/include/torch/all.h"; then
  CXX_STD=c++20
fi

DEFINES=("-D_GLIBCXX_USE_CXX11_ABI=$ABI")
if [[ "$VERSION" =~ ^(1\.13\.|2\.0\.|2\.1\.) ]]; then DEFINES+=(-DV1_13_X); fi
LINK_LIBS=(-ltorch -ltorch_cpu -lc10)
if [[ "$FLAVOR" == cu* ]]; then
  DEFINES+=(-DUSE_CUDA)
  for l in libtorch_cuda.so libc10_cuda.so; do
    [[ -e "$TORCH_LIB/$l" ]] || die "flavor $FLAVOR but $l not found in $TORCH_LIB (a CPU-only torch? use --flavor cpu)"
  done
  LINK_LIBS+=(-ltorch_cuda -lc10_cuda)
  # CUDA headers (cuda_runtime_api.h, cublas_v2.h, cusparse.h, ... from ATen/cuda/CUDAContext.h)
  cands=("${CUDA_INCLUDES[@]}")
  [[ -n "$PY_CUDA_HOME" ]] && cands+=("$PY_CUDA_HOME/include")
  [[ -n "${CUDA_HOME:-}" ]] && cands+=("$CUDA_HOME/include")
  [[ -n "${CUDA_PATH:-}" ]] && cands+=("$CUDA_PATH/include")
  cands+=(/usr/local/cuda/include)
  if [[ -n "$PY_SITE" && -d "$PY_SITE/nvidia" ]]; then
    while IFS= read -r d; do cands+=("$d"); done < <(find "$PY_SITE/nvidia" -mindepth 2 -maxdepth 3 -type d -name include | sort)
  fi
  for d in "${cands[@]}"; do
    [[ -d "$d" ]] || continue
    seen=0
    for e in "${INCLUDE_DIRS[@]}"; do [[ "$e" == "$d" ]] && seen=1; done
    [[ $seen == 1 ]] || INCLUDE_DIRS+=("$d")
  done
  have_rt=0
  for d in "${INCLUDE_DIRS[@]}"; do [[ -f "$d/cuda_runtime_api.h" ]] && have_rt=1; done
  [[ $have_rt == 1 ]] || die "flavor $FLAVOR but cuda_runtime_api.h not found: pass --cuda-include DIR (the CUDA toolkit's include)"
fi
log "torch $VERSION flavor $FLAVOR ($CLASSIFIER), cxx11 abi $ABI, -std=$CXX_STD, defines: ${DEFINES[*]}"
log "torch lib: $TORCH_LIB"
log "torch include root: $TORCH_INC_ROOT"

# ---------------------------------------------------------------- JNI headers
if [[ -z "$JNI_INCLUDE" ]]; then
  if [[ -n "${JAVA_HOME:-}" && -f "$JAVA_HOME/include/jni.h" ]]; then
    JNI_INCLUDE="$JAVA_HOME/include"
  elif command -v javac >/dev/null 2>&1; then
    jdk=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    [[ -f "$jdk/include/jni.h" ]] && JNI_INCLUDE="$jdk/include"
  fi
fi
[[ -n "$JNI_INCLUDE" ]] || die "missing --jni-include DIR (a JDK's include folder with jni.h and linux/jni_md.h; no JAVA_HOME/javac here)"
[[ -f "$JNI_INCLUDE/jni.h" ]] || die "jni.h not found in --jni-include $JNI_INCLUDE"
[[ -f "$JNI_INCLUDE/linux/jni_md.h" ]] || die "linux/jni_md.h not found in --jni-include $JNI_INCLUDE"

if [[ -n "$JNI_HEADER_DIR" ]]; then
  [[ -f "$JNI_HEADER_DIR/$JNI_H" ]] || die "$JNI_H not found in --jni-header $JNI_HEADER_DIR"
  JNI_HEADER_DIR=$(cd "$JNI_HEADER_DIR" && pwd)
else
  command -v javac >/dev/null 2>&1 \
    || die "missing --jni-header DIR: no javac here to generate $JNI_H (generate it where a JDK exists: javac -h DIR -d /tmp/classes PyTorchLibrary.java)"
  [[ -f "$SRC/$JAVA_SUB/$LIB_JAVA" ]] \
    || die "missing --jni-header DIR: --djl-src has no $JAVA_SUB/$LIB_JAVA to generate $JNI_H from"
  JNI_HEADER_DIR="$BUILD_DIR/jni-include"
  log "generating $JNI_H with javac -h (as DJL's build.sh does)"
  cp_args=()
  [[ -n "$CLASSPATH_OPT" ]] && cp_args=(-classpath "$CLASSPATH_OPT")
  javac "${cp_args[@]}" -sourcepath "$SRC/$JAVA_SUB" -h "$JNI_HEADER_DIR" -d "$BUILD_DIR/classes" \
    "$SRC/$JAVA_SUB/$LIB_JAVA" > "$BUILD_DIR/javac.log" 2>&1 \
    || { cat "$BUILD_DIR/javac.log" >&2; die "javac -h failed (see above)"; }
  [[ -f "$JNI_HEADER_DIR/$JNI_H" ]] || die "javac did not write $JNI_H"
fi
log "JNI header: $JNI_HEADER_DIR/$JNI_H; jni.h from $JNI_INCLUDE"

# ---------------------------------------------------------------- compile
CXXFLAGS_ALL=(-std="$CXX_STD" -fPIC -O3 -DNDEBUG -w "${DEFINES[@]}"
  -I"$JNI_HEADER_DIR" -I"$JNI_INCLUDE" -I"$JNI_INCLUDE/linux" -I"$SRC/$UTILS_SUB" -I"$NATIVE")
for d in "${INCLUDE_DIRS[@]}"; do CXXFLAGS_ALL+=(-I"$d"); done
OBJ="$BUILD_DIR/obj"
mkdir -p "$OBJ"
printf '%q ' "$CXX_BIN" "${CXXFLAGS_ALL[@]}" > "$BUILD_DIR/compile-command.txt"

compile_one() {
  local f="$1" b="${1%.cc}"
  local t0=$SECONDS
  local rc=0
  if [[ $SYNTAX_ONLY == 1 ]]; then
    "$CXX_BIN" "${CXXFLAGS_ALL[@]}" -fsyntax-only "$NATIVE/$f" > "$OBJ/$b.log" 2>&1 || rc=$?
  else
    "$CXX_BIN" "${CXXFLAGS_ALL[@]}" -c "$NATIVE/$f" -o "$OBJ/$b.o" > "$OBJ/$b.log" 2>&1 || rc=$?
  fi
  echo "$rc" > "$OBJ/$b.rc"
  if [[ $rc == 0 ]]; then
    log "  compiled $f ($((SECONDS - t0)) s)"
  else
    log "  FAILED $f (log: $OBJ/$b.log)"
  fi
  return 0
}

log "compiling ${#CC_FILES[@]} files with $JOBS jobs ($CXX_BIN $("$CXX_BIN" -dumpfullversion 2>/dev/null || "$CXX_BIN" -dumpversion)); full command in $BUILD_DIR/compile-command.txt"
T_START=$SECONDS
running=0
for f in "${CC_FILES[@]}"; do
  compile_one "$f" &
  running=$((running + 1))
  if [[ $running -ge $JOBS ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
failed=()
for f in "${CC_FILES[@]}"; do
  rc=$(cat "$OBJ/${f%.cc}.rc" 2>/dev/null || echo 1)
  [[ "$rc" == 0 ]] || failed+=("$f")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  for f in "${failed[@]}"; do
    echo "build-djl-jni: ---- first errors of $f:" >&2
    grep -m 10 -E 'error|Error' "$OBJ/${f%.cc}.log" >&2 || tail -n 20 "$OBJ/${f%.cc}.log" >&2
  done
  die "${#failed[@]} of ${#CC_FILES[@]} files did not compile: ${failed[*]} (logs in $OBJ)"
fi
log "compiled all ${#CC_FILES[@]} files in $((SECONDS - T_START)) s"
if [[ $SYNTAX_ONLY == 1 ]]; then
  log "syntax-only check passed; nothing built"
  [[ $KEEP_BUILD == 1 ]] || rm -rf "$BUILD_DIR"
  exit 0
fi

# ---------------------------------------------------------------- link
SO="$BUILD_DIR/libdjl_torch.so"
# rpath: $ORIGIN like DJL (JNI next to libtorch), plus the torch lib folder itself, for a JNI
# installed elsewhere (DJL loads the libtorch libraries from PYTORCH_LIBRARY_PATH first anyway).
# shellcheck disable=SC2016
"$CXX_BIN" -shared -o "$SO" "$OBJ"/*.o -L"$TORCH_LIB" -Wl,-rpath-link,"$TORCH_LIB" \
  -Wl,--no-undefined -Wl,--no-as-needed "${LINK_LIBS[@]}" -Wl,--as-needed \
  -Wl,-rpath,'$ORIGIN':"$TORCH_LIB" > "$BUILD_DIR/link.log" 2>&1 \
  || { grep -m 20 -E 'undefined|error' "$BUILD_DIR/link.log" >&2 || tail -n 20 "$BUILD_DIR/link.log" >&2
       die "link failed (log: $BUILD_DIR/link.log); undefined symbols mean the headers do not match $TORCH_LIB"; }
n_exp=$(grep -c '^JNIEXPORT' "$JNI_HEADER_DIR/$JNI_H" || true)
n_def=$(nm -D --defined-only "$SO" | grep -c ' T Java_ai_djl_pytorch_jni_PyTorchLibrary_' || true)
log "linked $SO ($(du -h "$SO" | cut -f1)); JNI functions: $n_def defined, $n_exp declared by $JNI_H"
if [[ "$n_def" -lt "$n_exp" ]]; then
  log "WARNING: fewer JNI functions than PyTorchLibrary.java declares: is --djl-src at ${DJL_TAG}?"
fi

# ---------------------------------------------------------------- install
if [[ -z "$OUT" ]]; then
  CACHE_BASE="${ENGINE_CACHE_DIR:-}"
  [[ -n "$CACHE_BASE" ]] || CACHE_BASE="${DJL_CACHE_DIR:-}"
  [[ -n "$CACHE_BASE" ]] || CACHE_BASE="$HOME/.djl.ai"
  OUT="$CACHE_BASE/pytorch/${VERSION}-${FLAVOR}-${CLASSIFIER}/${DJL_VERSION}-libdjl_torch.so"
fi
OUT_DIR=$(dirname "$OUT")
mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR"
cp "$SO" "$OUT.tmp.$$" && mv -f "$OUT.tmp.$$" "$OUT" || die "cannot write $OUT"
# what this JNI can do beyond DJL's own, read by spt (org.sptspark.model.Precision): bf16 tensors
echo bf16 >"$OUT.features" || die "cannot write $OUT.features"
[[ $KEEP_BUILD == 1 ]] || rm -rf "$BUILD_DIR"
log "installed $OUT"
log "build time: $((SECONDS)) s in all"
log "to use it with DJL ${DJL_VERSION}, export:"
echo "export PYTORCH_LIBRARY_PATH=$TORCH_LIB"
echo "export PYTORCH_VERSION=$VERSION"
echo "export PYTORCH_FLAVOR=$FLAVOR"
if [[ -z "${ENGINE_CACHE_DIR:-}" && -n "${DJL_CACHE_DIR:-}" ]]; then echo "export DJL_CACHE_DIR=$DJL_CACHE_DIR"; fi
if [[ -n "${ENGINE_CACHE_DIR:-}" ]]; then echo "export ENGINE_CACHE_DIR=$ENGINE_CACHE_DIR"; fi
case "$OUT" in
  */pytorch/"${VERSION}-${FLAVOR}-${CLASSIFIER}/${DJL_VERSION}-libdjl_torch.so"|"$TORCH_LIB/libdjl_torch.so"|"$TORCH_LIB/${DJL_VERSION}-libdjl_torch.so") ;;
  *) log "NOTE: --out $OUT is not a place DJL ${DJL_VERSION} looks in; copy it to \$DJL_CACHE_DIR/pytorch/${VERSION}-${FLAVOR}-${CLASSIFIER}/${DJL_VERSION}-libdjl_torch.so or into PYTORCH_LIBRARY_PATH" ;;
esac
