#!/usr/bin/env bash
# Installs what RingKernel needs to build and test on Debian 12. Idempotent: installs only missing packages,
# and runs `apt-get update` only when something is missing. Uses sudo when not run as root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="$root/scripts/deps-apt.txt"
reqs="$root/scripts/requirements.txt"

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup.sh: not root and sudo is not installed; run as root or install sudo" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi

missing=()
while IFS= read -r line || [[ -n "$line" ]]; do
  pkg="${line%%#*}"
  pkg="${pkg//[[:space:]]/}"
  [[ -z "$pkg" ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done <"$deps"

if ((${#missing[@]})); then
  echo "setup.sh: installing ${#missing[@]} missing package(s): ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all apt packages present"
fi

# Python requirements, only when the file lists any (comments and blank lines do not count). Debian 12
# marks the system Python as externally managed (PEP 668); these are pinned tool versions for CI machines.
if grep -qvE '^[[:space:]]*(#|$)' "$reqs"; then
  echo "setup.sh: installing Python requirements"
  "${sudo_cmd[@]}" env PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q -r "$reqs"
fi

bash "$root/scripts/fetch-wgpu.sh"  # wgpu-native for WGSL validation/execution (IR code generation tests)
