# shellcheck shell=bash
# bench/scenarios/90-idle-conns.sh — memory of BENCH_IDLE_CONNS (default 10,000) idle, served
# keep-alive connections: switchboard with 2 threads (the target) and nginx with 2 workers (for
# reference). bench/idle_conns.c opens them, sends one GET /healthz on each, reads the answer
# and holds them; the server's VmRSS is read while they are held.

bench_scenario idle_conns "RSS with ${BENCH_IDLE_CONNS} idle keep-alive connections (sb 2 threads, nginx 2 workers)"

IDLE_BIN=""

idle_build() {
  [[ -n $IDLE_BIN ]] && return 0
  need_cmd "$CC_BIN"
  IDLE_BIN=$BENCH_TMP/idle_conns
  "$CC_BIN" -O2 -Wall -Wextra -o "$IDLE_BIN" "$BENCH_DIR/idle_conns.c" >"$BENCH_TMP/idle_conns-cc.log" 2>&1 \
    || { show_log "$BENCH_TMP/idle_conns-cc.log"; die "could not compile bench/idle_conns.c"; }
}

# idle_measure LABEL NAME N — one measurement against service NAME; adds a row.
idle_measure() {
  local label=$1 name=$2 n=$3 port=${SVC_PORT[$2]} out ipid deadline base_kb rss_kb open="" rc=0 note per_conn
  out=$BENCH_TMP/idle-$name.txt
  svc_mem_kb "$name" VmRSS
  base_kb=$REPLY
  # Registered like a server, so that the EXIT trap stops it too.
  svc_spawn "idle-$name" client "$out" \
    "$IDLE_BIN" 127.0.0.1 "$port" "$n" "$((BENCH_IDLE_SETTLE + BENCH_IDLE_HOLD))"
  ipid=${SVC_PID[idle-$name]}
  deadline=$((SECONDS + 120))
  until grep -q '^established' "$out" 2>/dev/null; do
    if ! kill -0 "$ipid" 2>/dev/null; then
      show_log "$out"
      svc_alive "$name" || show_log "${SVC_LOG[$name]}"
      die "idle_conns against $name failed before all $n connections were established"
    fi
    if ((SECONDS >= deadline)); then
      die "idle_conns against $name: $n connections not established within 120 s"
    fi
    sleep 0.2
  done
  log "$name: $(head -n 1 "$out")"
  sleep "$BENCH_IDLE_SETTLE"
  svc_mem_kb "$name" VmRSS
  rss_kb=$REPLY
  # The server's own count, when it exports it (switchboard /metrics).
  if [[ ${SVC_KIND[$name]} == switchboard ]]; then
    # (awk reads to the end: an early exit would SIGPIPE the reader under pipefail)
    open=$(http_get 127.0.0.1 "$port" /metrics | awk '/^switchboard_http_connections_open[ {]/ && v == "" { v = $NF } END { print v }') || open=""
  fi
  wait "$ipid" || rc=$?
  unset 'SVC_PID[idle-$name]'
  log "$name: $(tail -n 1 "$out")"
  if ((rc != 0)); then
    show_log "$out"
    warn "idle_conns against $name exited with $rc; the RSS figure is suspect"
  fi
  per_conn=$(awk -v a="$rss_kb" -v b="$base_kb" -v n="$n" 'BEGIN { printf "%.1f", (a - b) / n }')
  note="base $(kb_to_mib "$base_kb") MiB, +$per_conn KiB/conn"
  [[ -n $open ]] && note+=", server reports $open open"
  ((rc == 0)) || note+=", idle_conns exit $rc"
  row_add "$label" "-" "-" "-" "$rss_kb" "-" "$([[ $rc == 0 ]] && echo 0 || echo "exit $rc")" "-" "$note"
  IDLE_LAST_RSS_KB=$rss_kb
  IDLE_LAST_RC=$rc
}

scenario_idle_conns() {
  local n=$BENCH_IDLE_CONNS nofile
  idle_build
  nofile=$(ulimit -n)
  if [[ $nofile != unlimited ]] && ((nofile < n + 64)); then
    warn "fd limit $nofile is below $((n + 64)); measuring $((nofile - 64)) connections instead of $n"
    n=$((nofile - 64))
  fi

  if bench_have_sb; then
    # All 10,000 come from 127.0.0.1, one client to --max-connections-per-ip (1024 by default).
    sb_start sb-idle 2 --max-connections-per-ip 0
    idle_measure "idle $n conns sb-2t" sb-idle "$n"
    local mib
    mib=$(kb_to_mib "$IDLE_LAST_RSS_KB")
    if [[ $n == 10000 && $IDLE_LAST_RC == 0 ]]; then
      cmp_status "$mib" "<=" 64
      target_add "RSS of sb-2t with 10,000 idle connections <= 64 MiB" "$mib MiB" "$REPLY"
    else
      target_add "RSS of sb-2t with 10,000 idle connections <= 64 MiB" "$mib MiB at $n conns" "n/a"
    fi
    svc_stop_all
  fi
  nginx_start nginx-idle 2
  idle_measure "idle $n conns nginx-2w" nginx-idle "$n"
}
