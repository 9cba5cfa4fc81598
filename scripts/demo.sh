#!/usr/bin/env bash
# Builds the `ringkernel` CLI with the default preset and runs its demo. Extra arguments go to the demo:
#   bash scripts/demo.sh [demo options...]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/setup.sh
if ! compgen -G "src/cli/*.cpp" >/dev/null; then
  echo "demo.sh: src/cli/ has no sources yet, so there is no ringkernel CLI to run" >&2
  exit 1
fi
cmake --preset default
cmake --build --preset default --target ringkernel_cli -j"$(nproc)"
exec "$root/build/default/ringkernel" demo "$@"
