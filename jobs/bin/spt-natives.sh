# shellcheck shell=bash
# Sourced by jobs/bin/spt and by the portable bundle's bin/spt: points DJL at an installed PyTorch
# instead of the CPU natives from Maven Central, with a JNI that matches it.
#
#   spt_natives_use TORCH JNI_SOURCE
#     TORCH: a torch installation (the folder of `import torch`, holding lib/ and version.py), its
#       lib/ folder, or "auto" (python3 -c 'import torch').
#     JNI_SOURCE: how to get DJL's own JNI for a flavor, as a command that writes the library to
#       stdout, called with the flavor (cpu or cu128) as its argument.
#   On success it exports PYTORCH_LIBRARY_PATH, PYTORCH_VERSION and PYTORCH_FLAVOR for DJL and
#   SPT_TORCH_DESCRIPTION for the logs; on failure it prints one line and returns non-zero.
#
# The JNI DJL loads is $DJL_CACHE_DIR/pytorch/<version>-<flavor>-linux-x86_64/<djl>-libdjl_torch.so
# (DJL 0.35.1's LibUtils looks there after the torch lib folder). When none is there yet, DJL's own
# JNI from the pytorch-jni jar (built for libtorch 2.7.1: cpu, or cu128 for CUDA torches) is put
# there, but only after checking that every libtorch C++ symbol it needs is defined by the installed
# libraries: a mismatch is a clear message naming the missing symbols, not a JVM crash at the first
# call. Then conf/cluster/build-djl-jni.sh builds one for the installed torch and installs it there.

SPT_DJL_VERSION="${SPT_DJL_VERSION:-0.35.1}"

spt_natives_fail() {
  echo "spt: $*" >&2
  return 3
}

# The libtorch C++ symbols a JNI library needs that the torch libraries in $2 do not define (one per line).
spt_natives_missing_symbols() {
  local jni="$1" lib="$2" libs=()
  command -v nm >/dev/null || { echo "nm (binutils) is needed to check the JNI against $lib" >&2; return 2; }
  for l in libc10.so libc10_cuda.so libtorch_cpu.so libtorch_cuda.so libtorch.so; do
    [[ -f "$lib/$l" ]] && libs+=("$lib/$l")
  done
  # C++ symbols (mangled _Z...) without a version tag: libstdc++'s carry GLIBCXX/CXXABI tags
  comm -23 \
    <(nm -D --undefined-only "$jni" | awk '$1 == "U" && $2 ~ /^_Z/ && $2 !~ /@/ {print $2}' | sort -u) \
    <(nm -D --defined-only "${libs[@]}" 2>/dev/null | awk '$1 !~ /:$/ && NF >= 3 {print $3}' | sort -u)
}

spt_natives_use() {
  local torch="$1" jni_source="$2" lib version cuda flavor family cache jni missing count
  if [[ "$torch" == auto ]]; then
    command -v python3 >/dev/null || { spt_natives_fail "SPT_TORCH_HOME=auto: no python3 on the PATH to find torch"; return; }
    torch="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)" ||
      { spt_natives_fail "SPT_TORCH_HOME=auto: python3 cannot import torch"; return; }
  fi
  [[ -d "$torch" ]] || { spt_natives_fail "torch installation '$torch' is not a folder"; return; }
  torch="$(cd "$torch" && pwd)"
  if [[ -f "$torch/lib/libtorch.so" ]]; then lib="$torch/lib"; else lib="$torch"; fi
  [[ -f "$lib/libtorch.so" && -f "$lib/libtorch_cpu.so" && -f "$lib/libc10.so" ]] ||
    { spt_natives_fail "no libtorch.so, libtorch_cpu.so and libc10.so in $torch or $torch/lib"; return; }
  # torch/version.py: __version__ = '2.11.0+cu130', cuda = '13.0' (or None); SPT_TORCH_VERSION/FLAVOR override
  local py="$lib/../version.py"
  version="${SPT_TORCH_VERSION:-$( [[ -f "$py" ]] && sed -n "s/^__version__ *= *['\"]\([^'\"]*\)['\"].*/\1/p" "$py")}"
  cuda="$( [[ -f "$py" ]] && sed -n "s/^cuda *= *['\"]\([0-9.]*\)['\"].*/\1/p" "$py")"
  [[ -n "$version" ]] || { spt_natives_fail "cannot tell the torch version in $torch (no version.py): set SPT_TORCH_VERSION"; return; }
  version="${version%%+*}"
  if [[ -n "${SPT_TORCH_FLAVOR:-}" ]]; then flavor="$SPT_TORCH_FLAVOR"
  elif [[ -n "$cuda" ]]; then flavor="cu$(echo "$cuda" | tr -d .)"
  else flavor=cpu; fi
  [[ "$flavor" == cpu || -f "$lib/libtorch_cuda.so" ]] ||
    { spt_natives_fail "torch $version in $lib is flavor $flavor but has no libtorch_cuda.so"; return; }
  family=cpu; [[ "$flavor" == cu* ]] && family=cu128

  # DJL's engine cache: ENGINE_CACHE_DIR, else DJL_CACHE_DIR, else ~/.djl.ai
  cache="${ENGINE_CACHE_DIR:-${DJL_CACHE_DIR:-$HOME/.djl.ai}}/pytorch/$version-$flavor-linux-x86_64"
  jni="$cache/$SPT_DJL_VERSION-libdjl_torch.so"
  if [[ ! -f "$jni" ]]; then
    mkdir -p "$cache" || { spt_natives_fail "cannot create $cache (DJL_CACHE_DIR)"; return; }
    local tmp="$cache/.jni.$$"
    $jni_source "$family" >"$tmp" && [[ -s "$tmp" ]] ||
      { rm -f "$tmp"; spt_natives_fail "cannot get DJL's $family JNI from the pytorch-jni jar"; return; }
    missing="$(spt_natives_missing_symbols "$tmp" "$lib")" || { rm -f "$tmp"; spt_natives_fail "cannot check DJL's JNI against $lib"; return; }
    if [[ -n "$missing" ]]; then
      rm -f "$tmp"
      count="$(wc -l <<<"$missing")"
      spt_natives_fail "DJL $SPT_DJL_VERSION's $family JNI (built for libtorch 2.7.1) does not match torch $version ($flavor) in $lib:" \
        "$count libtorch symbols it needs are missing, e.g. $(head -n 3 <<<"$missing" | tr '\n' ' ')-- build a matching JNI with" \
        "conf/cluster/build-djl-jni.sh (README: GPU routes), which installs it as $jni"
      return
    fi
    mv "$tmp" "$jni"
  fi
  export PYTORCH_LIBRARY_PATH="$lib" PYTORCH_VERSION="$version" PYTORCH_FLAVOR="$flavor"
  export SPT_TORCH_DESCRIPTION="torch $version ($flavor) from $lib, JNI $jni"
}
