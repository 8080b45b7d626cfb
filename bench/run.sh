#!/usr/bin/env bash
# bench/run.sh — switchboard benchmark suite (SPEC section 13). One command:
#
#   bench/run.sh                    # build release, run every scenario, print the table
#   bench/run.sh healthz            # only the named scenario(s)
#   bench/run.sh --list             # list the scenarios
#
# Environment (defaults in bench/lib.sh): BENCH_DURATION=10s BENCH_CONNECTIONS=64
# BENCH_ROUNDS=2 BENCH_WARMUP=2s BENCH_IDLE_CONNS=10000 BENCH_IDLE_HOLD=5
# BENCH_FANOUT_EVENTS=100000 BENCH_FANOUT_RATE=5000 BENCH_FANOUT_SECONDS=10 BENCH_FANOUT_CONNS=32
# BENCH_NGINX_ONLY=1 (nginx half only, no build) BENCH_SKIP_BUILD=1 BENCH_STRICT=1 (exit 3 on a
# missed target) BENCH_KEEP_TMP=1 (keep configs, logs, raw wrk output) BENCH_SB_ARGS="--flag v"
# BENCH_PIN=1 (1-thread/1-worker servers on CPU 0, their wrk on the other CPUs).
#
# Exit status: 0 figures measured; 1 a build, a server or a client failed; 2 usage;
# 3 a target was missed and BENCH_STRICT=1. See docs/bench.md.
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$BENCH_DIR/.." && pwd -P)
export LC_ALL=C

# shellcheck source=./lib.sh
source "$BENCH_DIR/lib.sh"
for f in "$BENCH_DIR"/scenarios/*.sh; do
  [[ -e $f ]] || continue
  # shellcheck source=/dev/null
  source "$f"
done

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

selected=()
for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    --list)
      for s in "${BENCH_SCENARIOS[@]}"; do printf '%-16s %s\n' "$s" "${BENCH_SCENARIO_DESC[$s]}"; done
      exit 0 ;;
    -*) printf 'unknown option: %s\n' "$arg" >&2; usage >&2; exit 2 ;;
    *)
      [[ -n ${BENCH_SCENARIO_DESC[$arg]:-} ]] || { printf 'unknown scenario: %s (--list)\n' "$arg" >&2; exit 2; }
      selected+=("$arg") ;;
  esac
done
((${#selected[@]})) || selected=("${BENCH_SCENARIOS[@]}")
((${#selected[@]})) || { printf 'no scenarios in bench/scenarios/\n' >&2; exit 2; }

need_cmd "$WRK_BIN" "$REDIS_BIN" awk mktemp
trap bench_cleanup EXIT
# set -e exits silently; say where (main shell only, not in $(...) probes).
set -E
# shellcheck disable=SC2154  # _bench_err is assigned inside the trap string
trap '_bench_err=$?; [[ $BASHPID == "$$" ]] && printf "[bench] ERROR: status %d at %s:%d: %s\n" "$_bench_err" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

bench_tmp_init
bench_raise_nofile
bench_check_load
BENCH_ADMIN_TOKEN="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

if bench_have_sb; then
  bench_build
else
  log "BENCH_NGINX_ONLY=1: no build, switchboard rows skipped"
fi

log "fd limit $(ulimit -n); wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION, $BENCH_ROUNDS rounds; scenarios: ${selected[*]}"
for s in "${selected[@]}"; do
  log "== scenario $s: ${BENCH_SCENARIO_DESC[$s]}"
  "scenario_$s"
  svc_stop_all
done

bench_report
log "done in $((SECONDS - BENCH_T0)) s"
if [[ $BENCH_STRICT == 1 ]] && targets_missed; then
  warn "a target was missed (BENCH_STRICT=1)"
  exit 3
fi
exit 0
