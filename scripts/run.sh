#!/usr/bin/env bash
# Quick start: install the Debian packages, build a release binary, run switchboard.
# With no --redis it runs its own redis-server (AOF on) in ./switchboard-data.
# Extra arguments go to the server: scripts/run.sh --listen 127.0.0.1:9000 --threads 2
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release --buildtype=release -Db_ndebug=true -Dtests=false >/dev/null
fi
ninja -C build-release >/dev/null

# The admin API needs a token; make one for this run unless the caller chose one.
if [ -z "${SWITCHBOARD_ADMIN_TOKEN:-}" ] && ! printf '%s\n' "$@" | grep -q -- '--admin-token'; then
  SWITCHBOARD_ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  export SWITCHBOARD_ADMIN_TOKEN
  echo "admin token for this run: $SWITCHBOARD_ADMIN_TOKEN" >&2
  echo "try: curl -s -X POST -H \"Authorization: Bearer \$TOKEN\" localhost:8080/api/admin/tenants -d '{\"name\":\"acme\"}'" >&2
fi
exec build-release/switchboard "$@"
