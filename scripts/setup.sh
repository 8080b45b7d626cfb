#!/usr/bin/env bash
# Installs the Debian packages switchboard needs to build, run, test and bench.
# Idempotent: packages already present are skipped, apt-get runs only when one is missing.
set -euo pipefail

PKGS=(
  build-essential pkg-config meson ninja-build
  libuv1-dev node-llhttp libcjson-dev libmbedtls-dev libhiredis-dev
  redis-server tzdata
  libcmocka-dev python3 python3-pytest python3-requests python3-cryptography
  clang libclang-rt-14-dev
  wrk nginx-light openssl ca-certificates
  chromium chromium-driver
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm (tests/integration/test_signature_verifiers.py, bench's reference rows): Debian's
# nodejs and npm only when no node / npm is on PATH already. A node from elsewhere (NodeSource's
# nodejs, which ships its own npm and conflicts with Debian's npm package) is kept as it is.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts services on install; switchboard runs its own redis-server and nginx.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now nginx redis-server >/dev/null 2>&1 || true
fi
