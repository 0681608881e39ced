#!/usr/bin/env bash
# Installs what building and testing attn needs, when it is missing, from
# Debian's archive (bookworm's security suite carries LLVM/MLIR 22).
set -euo pipefail

packages=(
  cmake ninja-build ccache python3 python3-venv python3-dev
  clang-22 llvm-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libclang-rt-22-dev
  libgtest-dev libopenblas-dev
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$package")
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The project's Python environment (.venv): PyPI packages the tests use,
# never installed into the system Python. Without PyPI the tests that need
# them are skipped, with a note.
root="$(cd "$(dirname "$0")/.." && pwd)"
requirements="$root/scripts/requirements.txt"
stamp="$root/.venv/.requirements"
if ! cmp -s "$requirements" "$stamp" 2>/dev/null; then
  echo "setup: installing scripts/requirements.txt into .venv"
  if python3 -m venv "$root/.venv" &&
     "$root/.venv/bin/pip" install -q --disable-pip-version-check \
       -r "$requirements"; then
    cp "$requirements" "$stamp"
  else
    echo "setup: warning: could not install scripts/requirements.txt into" \
         ".venv; the tests that need it are skipped"
  fi
fi
