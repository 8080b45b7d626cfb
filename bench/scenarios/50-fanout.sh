# shellcheck shell=bash
# bench/scenarios/50-fanout.sh — delivery fan-out: events emitted through
# POST /api/webhooks/test are queued in Redis and POSTed by switchboard's delivery engine to a
# local HTTP/1.1 keep-alive sink. bench/fanout.c is both the event generator and the sink.
#
# One switchboard (BENCH_FANOUT_THREADS, 2) with its own Redis, one tenant, one subscription
# (http://127.0.0.1:SINK/hook <- dialog_created). Three runs of fanout, in this order:
#   1. rate:  BENCH_FANOUT_WARMUP unmeasured events, then BENCH_FANOUT_RATE events/s for
#             BENCH_FANOUT_SECONDS on a fixed schedule -> p50/p99 enqueue-to-delivery latency;
#   2. burst: BENCH_FANOUT_EVENTS events as fast as BENCH_FANOUT_CONNS connections allow
#             -> deliveries/s = delivered / (last delivery - first enqueue), emit included;
#   3. drain: the sink reads nothing while BENCH_FANOUT_EVENTS events are enqueued, then
#             resumes -> the emit path alone (events/s) and the delivery engine alone draining
#             that backlog (deliveries/s: the target, the engine's own rate).
# RSS is switchboard's VmHWM after each run.

bench_scenario fanout "delivery fan-out to a keep-alive sink: deliveries/s, enqueue-to-delivery p50/p99 at ${BENCH_FANOUT_RATE}/s, RSS (sb ${BENCH_FANOUT_THREADS} threads)"

FANOUT_BIN=""
FANOUT_KEY=""
FANOUT_SINK_PORT=""
declare -A FO=()

fanout_build() {
  [[ -n $FANOUT_BIN ]] && return 0
  need_cmd "$CC_BIN"
  FANOUT_BIN=$BENCH_TMP/fanout
  "$CC_BIN" -O2 -pthread -Wall -Wextra -o "$FANOUT_BIN" "$BENCH_DIR/fanout.c" >"$BENCH_TMP/fanout-cc.log" 2>&1 \
    || { show_log "$BENCH_TMP/fanout-cc.log"; die "could not compile bench/fanout.c"; }
}

# fanout_setup NAME — a tenant on service NAME and its one subscription to the sink.
# Sets FANOUT_KEY and FANOUT_SINK_PORT. timeoutMs 30000 (the maximum): in the drain run the
# attempts wait on the paused sink for as long as the enqueueing takes.
fanout_setup() {
  local name=$1 port=${SVC_PORT[$1]} resp out=$BENCH_TMP/fanout-setup.txt
  resp=$(http_request POST 127.0.0.1 "$port" /api/admin/tenants '{"name":"bench-fanout"}' \
    "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >"$out"
  FANOUT_KEY=$(sed -n 's/.*"apiKey":"\([^"]*\)".*/\1/p' <<<"$resp")
  [[ -n $FANOUT_KEY ]] || { show_log "$out"; die "$name: POST /api/admin/tenants gave no apiKey"; }
  free_port
  FANOUT_SINK_PORT=$REPLY
  resp=$(http_request PUT 127.0.0.1 "$port" /api/webhooks/subscriptions \
    "{\"http://127.0.0.1:$FANOUT_SINK_PORT/hook\":{\"events\":[\"dialog_created\"],\"timeoutMs\":30000}}" \
    "X-API-Key: $FANOUT_KEY") || true
  printf '%s\n' "$resp" >>"$out"
  [[ $resp == "HTTP/1.1 200"* ]] || { show_log "$out"; die "$name: PUT /api/webhooks/subscriptions failed"; }
}

# fanout_run NAME LABEL WARMUP MODE ARGS... — one run of the tool against service NAME; the
# figures of its result line in FO[...], switchboard's VmHWM in FO[rss_kb].
fanout_run() {
  local name=$1 label=$2 warm=$3 out rc=0 line kv mon=()
  shift 3
  out=$BENCH_TMP/fanout-${label//[^A-Za-z0-9_.-]/_}.txt
  mon=(-m "sb=${SVC_PID[$name]}")
  [[ -n ${SVC_PID[$name-redis]:-} ]] && mon+=(-m "redis=${SVC_PID[$name-redis]}")
  run_child "$out" "$FANOUT_BIN" -p "${SVC_PORT[$name]}" -s "$FANOUT_SINK_PORT" -k "$FANOUT_KEY" \
    -c "$BENCH_FANOUT_CONNS" -w "$warm" -W "$BENCH_FANOUT_WAIT" "${mon[@]}" "$@" || rc=$?
  svc_alive "$name" || { show_log "$out"; show_log "${SVC_LOG[$name]}"; die "$name died during $label"; }
  if ((rc == 1 || rc == 2)) || ! line=$(grep '^fanout mode=' "$out"); then
    show_log "$out"
    die "fanout ($label) failed with status $rc"
  fi
  ((rc == 0)) || { show_log "$out" 10; warn "$label: incomplete (errors or lost deliveries); figures are suspect"; }
  FO=()
  for kv in ${line#fanout }; do FO[${kv%%=*}]=${kv#*=}; done
  svc_mem_kb "$name" VmHWM
  FO[rss_kb]=$REPLY
  log "$label: ${FO[delivered]}/${FO[expected]} delivered, ${FO[deliveries_per_s]} deliveries/s, p50 ${FO[p50_ms]} ms, p99 ${FO[p99_ms]} ms, max ${FO[max_ms]} ms, longest gap ${FO[max_gap_ms]} ms, enqueue ${FO[enqueue_per_s]}/s, errors ${FO[errors]}, CPU sb ${FO[cpu_sb]}% redis ${FO[cpu_redis]:--}% client ${FO[cpu_self]}%"
}

ms_to_us() { awk -v m="$1" 'BEGIN { if (m == "" || m < 0) print "-"; else printf "%.0f", m * 1000 }'; }

# fanout_row LABEL NOTE [nolat] — a table row from FO (nolat: no latency columns).
fanout_row() {
  local cpu="CPU sb ${FO[cpu_sb]}%" errs p50 p99
  [[ -n ${FO[cpu_redis]:-} ]] && cpu+=", redis ${FO[cpu_redis]}%"
  cpu+=", client ${FO[cpu_self]}%"
  errs=$((FO[errors] + FO[lost]))
  p50=$(ms_to_us "${FO[p50_ms]}")
  p99=$(ms_to_us "${FO[p99_ms]}")
  [[ ${3:-} == nolat ]] && p50=- p99=-
  row_add "$1" "${FO[deliveries_per_s]}" "$p50" "$p99" "${FO[rss_kb]}" "-" "$errs" "-" "$2; $cpu"
}

scenario_fanout() {
  bench_have_sb || return 0
  local t=$BENCH_FANOUT_THREADS n=$BENCH_FANOUT_EVENTS rate=$BENCH_FANOUT_RATE secs=$BENCH_FANOUT_SECONDS
  local name=sb-fanout label st remark
  fanout_build
  sb_start "$name" "$t" --allow-private-targets 127.0.0.0/8
  fanout_setup "$name"
  log "$name: tenant and subscription http://127.0.0.1:$FANOUT_SINK_PORT/hook ready"

  # 1. fixed rate (after the warm-up): latency.
  label="fanout ${rate}/s x ${secs}s sb-${t}t"
  fanout_run "$name" "$label" "$BENCH_FANOUT_WARMUP" rate "$rate" "$secs"
  local r_p99=${FO[p99_ms]} r_complete=${FO[complete]} r_rate=${FO[enqueue_per_s]}
  fanout_row "$label" "$(printf '%s/%s delivered, max %s ms; enqueued at %.0f/s (202 p99 %s ms, send lag max %s ms)' \
    "${FO[delivered]}" "${FO[expected]}" "${FO[max_ms]}" "${FO[enqueue_per_s]}" "${FO[emit_p99_ms]}" "${FO[send_lag_max_ms]}")"

  # 2. burst: deliveries/s, the whole pipeline.
  label="fanout burst $n sb-${t}t"
  fanout_run "$name" "$label" 0 burst "$n"
  local b_dps=${FO[deliveries_per_s]} b_complete=${FO[complete]}
  fanout_row "$label" "$(printf '%s/%s delivered in %s s; enqueued at %.0f/s meanwhile (202 p99 %s ms); %s sink conns' \
    "${FO[delivered]}" "${FO[expected]}" "${FO[elapsed_s]}" "${FO[enqueue_per_s]}" "${FO[emit_p99_ms]}" "${FO[sink_conns]}")"

  # 3. drain: emit alone, then the engine alone.
  label="fanout drain $n sb-${t}t"
  fanout_run "$name" "$label" 0 drain "$n"
  local d_dps=${FO[deliveries_per_s]} d_complete=${FO[complete]}
  fanout_row "$label" "$(printf 'backlog of %s drained in %s s, longest gap without a delivery %s ms; emit alone (sink paused) %.0f events/s, 202 p99 %s ms' \
    "${FO[delivered]}" "${FO[elapsed_s]}" "${FO[max_gap_ms]}" "${FO[enqueue_per_s]}" "${FO[emit_p99_ms]}")" nolat

  table_note "fanout rows: requests/s = deliveries/s. burst, rate: delivered / (last delivery - first enqueue), emit and delivery running together; drain: the engine alone emptying a backlog, delivered / (last delivery - sink resumed)."
  table_note "fanout rows: p50/p99 = enqueue-to-delivery latency (arrival at the sink - send time of POST /api/webhooks/test); RSS = switchboard VmHWM after the run; errors = non-202 answers + deliveries that never arrived; CPU = % of one core over the measured window (drain: the drain alone)."

  # Targets (issue: fan-out bench): >= 20,000 deliveries/s with 2 threads; p99 enqueue-to-delivery
  # <= 50 ms at 5,000 events/s. Deliveries/s is the engine's own rate (the drain run): in the burst
  # the HTTP emit path, the generator and the sink share the same 2 cores with it, so that row
  # measures the machine, not the engine (it is printed beside it).
  remark=""
  [[ $d_complete == 1 ]] || remark=" (incomplete: errors or lost deliveries)"
  if [[ $t == 2 ]]; then
    cmp_status "$d_dps" ">=" 20000
    st=$REPLY
    [[ -n $remark ]] && st=FAIL
  else
    st="n/a"
  fi
  local b_remark=""
  [[ $b_complete == 1 ]] || b_remark=" (incomplete)"
  target_add "fan-out >= 20,000 deliveries/s with 2 threads (engine draining $n)" "$(fmt_rps "$d_dps")/s$remark; end to end with emit $(fmt_rps "$b_dps")/s$b_remark" "$st"

  remark=""
  [[ $r_complete == 1 ]] || remark=" (incomplete: errors or lost deliveries)"
  if [[ $t == 2 && $rate == 5000 ]]; then
    cmp_status "$r_p99" "<=" 50
    st=$REPLY
    [[ -n $remark ]] && st=FAIL
    # the generator must have kept the schedule, or the latency was measured at a lower rate
    if awk -v r="$r_rate" -v want="$rate" 'BEGIN { exit !(r < 0.95 * want) }'; then
      st=FAIL
      remark+=" (enqueued at only $(fmt_rps "$r_rate")/s)"
    fi
  else
    st="n/a"
  fi
  target_add "fan-out p99 enqueue-to-delivery <= 50 ms at 5,000 events/s" "$(fmt_us "$(ms_to_us "$r_p99")") at ${rate}/s$remark" "$st"
}
