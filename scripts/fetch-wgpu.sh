#!/usr/bin/env bash
# Extracts wgpu-native (libwgpu_native + webgpu.h/wgpu.h) from the pinned `wgpu` Python package
# (scripts/requirements.txt) into third_party/wgpu/{lib,include/webgpu}. CMake finds it there
# (cmake/FindWgpuNative.cmake) to validate generated WGSL with naga and to run it (on Mesa lavapipe when the
# machine has no GPU). Idempotent; called by scripts/setup.sh after the pip install.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/third_party/wgpu"
want="$(sed -nE 's/^wgpu==([^[:space:]#]+).*/\1/p' "$root/scripts/requirements.txt" | head -n1)"
if [[ -z "$want" ]]; then
  echo "fetch-wgpu.sh: no 'wgpu==<version>' pin in scripts/requirements.txt" >&2
  exit 1
fi
if [[ -f "$dest/VERSION" && "$(cat "$dest/VERSION")" == "$want" && -f "$dest/lib/libwgpu_native.so" ]]; then
  echo "fetch-wgpu.sh: wgpu-native from wgpu $want already in third_party/wgpu"
  exit 0
fi

# find_spec locates the package without importing it (importing would load the library).
res="$(python3 - "$want" <<'PY'
import importlib.metadata, importlib.util, os, sys
want = sys.argv[1]
try:
    have = importlib.metadata.version("wgpu")
except importlib.metadata.PackageNotFoundError:
    sys.exit("the 'wgpu' Python package is not installed (run scripts/setup.sh)")
if have != want:
    sys.exit(f"wgpu {have} is installed but scripts/requirements.txt pins {want}")
spec = importlib.util.find_spec("wgpu")
print(os.path.join(os.path.dirname(spec.origin), "resources"))
PY
)"
for f in libwgpu_native-release.so webgpu.h wgpu.h; do
  if [[ ! -f "$res/$f" ]]; then
    echo "fetch-wgpu.sh: $res/$f is missing (this wgpu wheel does not ship wgpu-native for this platform?)" >&2
    exit 1
  fi
done
rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/include/webgpu"
cp "$res/libwgpu_native-release.so" "$dest/lib/libwgpu_native.so"
cp "$res/webgpu.h" "$res/wgpu.h" "$dest/include/webgpu/"
echo "$want" >"$dest/VERSION"
echo "fetch-wgpu.sh: wgpu-native from wgpu $want -> third_party/wgpu"
