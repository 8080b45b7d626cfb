# shellcheck shell=bash
# bench/scenarios/60-proactive.sh — proactive messages (docs/proactive.md): BENCH_PM_CONVS
# (10,000) widget conversations whose event trigger falls due within about one second. Target:
# every one fires exactly once, and the p99 of (fired - due) is <= 1 s.
#
# One switchboard (BENCH_PM_THREADS, 2) with its own Redis, --trusted-proxies 127.0.0.1/32 (the
# sessions come from 10,000 X-Forwarded-For addresses: the per-IP limit of 60 starts a minute
# never refuses) and --allow-private-targets 127.0.0.0/8 (the agent's deliveries go to a local
# nginx that answers {"status":"ok"}: no reply, so nothing but the proactive message goes out).
# Through the admin API: a tenant (its apiKey) and BENCH_PM_GROUPS (2) groups, each an agent
# and a widget routed to it. Then bench/proactive_probe.py (python3, stdlib only) does the rest,
# see its head:
#   1. per group g, POST /api/proactive-messages {"agentId", "trigger": {"type": "event",
#      "event": "message_received", "delaySeconds": BENCH_PM_DELAY + (groups-1-g)}, "payload":
#      {"text": "proactive"}} (404: the feature is not built in, the scenario stops with that);
#   2. BENCH_PM_CONVS session starts, pipelined over BENCH_PM_CONNS keep-alive connections, the
#      conversations split evenly among the groups' widgets;
#   3. a pub/sub watcher (PSUBSCRIBE sb:{t:<tid>}:live:*) notes when each proactive message is
#      published;
#   4. each session's first message, pipelined the same way, group g starting g seconds after
#      group 0: its delay is g seconds shorter, so all due times fall into the same second even
#      though the server takes in only ~7,000-9,000 messages a second on 2 cores (the spread of
#      the due times and the densest second are measured and shown);
#   5. waits until all have fired (BENCH_PM_TIMEOUT, 60 s after the last due time, at most),
#      2 s more for a late duplicate, then reads every conversation's messages from the Redis
#      (sb:{t:<tid>}:conv:<cid>:msgs): exactly one with its group's proactiveMessageId wanted;
#      lag = its createdAt - (the customer message's createdAt + the group's delay).
# BENCH_PM_SCHEDULE=N (seconds) times the other fan-out instead: no event triggers; after the
# first messages, one {"type": "schedule", "at": <N whole seconds on>} per group, so one
# occurrence fans out into all the open conversations at once; due = that instant.
# Two rows: the firings (lag p50/p99, firings/s) and the ingest burst that scheduled them.

bench_scenario proactive "${BENCH_PM_CONVS:-10000} widget conversations whose message_received trigger falls due within ~1 s: all fire exactly once, p99 fired - due <= 1 s (sb ${BENCH_PM_THREADS:-2} threads)"

: "${BENCH_PM_CONVS:=10000}"  # proactive: conversations (sessions, first messages, firings)
: "${BENCH_PM_DELAY:=5}"      # proactive: delaySeconds of the last group's trigger (the sending must end before)
: "${BENCH_PM_GROUPS:=2}"     # proactive: groups (agent + widget + message), sent one second apart
: "${BENCH_PM_CONNS:=64}"     # proactive: keep-alive connections of the probe
: "${BENCH_PM_WINDOW:=4}"     # proactive: requests in flight per connection (pipelined)
: "${BENCH_PM_TIMEOUT:=60}"   # proactive: seconds after the last due time to wait for the firings
: "${BENCH_PM_THREADS:=2}"    # proactive: switchboard --threads
: "${BENCH_PM_SCHEDULE:=0}"   # proactive: >0: schedule "at" triggers that many seconds after the first messages, not event ones

declare -A PM=()
PM_SINK_URL=""

# pm_field RESPONSE NAME — REPLY = the string member NAME of a raw response's body ("" if none).
pm_field() { REPLY=$(tail -n 1 <<<"$1" | grep -o "\"$2\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4 || true); }

# pm_admin NAME OUT PATH BODY — an admin POST that must answer 201; REPLY = the new id.
pm_admin() {
  local name=$1 out=$2 resp
  resp=$(http_request POST 127.0.0.1 "${SVC_PORT[$name]}" "$3" "$4" "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  pm_field "$resp" id
  [[ $resp == "HTTP/1.1 201"* && -n $REPLY ]] || { show_log "$out"; die "$name: POST $3 failed"; }
}

# pm_sink — the agent's webhook: one nginx worker answering {"status":"ok"} (PM_SINK_URL).
pm_sink() {
  if [[ -n $NGINX_BIN && -x $NGINX_BIN ]]; then
    BENCH_PIN=0 nginx_start proactive-sink 1
    PM_SINK_URL="http://127.0.0.1:${SVC_PORT[proactive-sink]}/healthz"
  else
    free_port
    PM_SINK_URL="http://127.0.0.1:$REPLY/healthz"
    warn "no nginx for the agent sink: the agent's deliveries go to a closed port ($PM_SINK_URL), fail and are retried meanwhile"
  fi
}

# pm_setup NAME — a tenant and BENCH_PM_GROUPS agents (the sink), each with a widget routed to
# it, on service NAME; PM[tid], PM[key], PM_GROUP_ARGS (--widget W --agent A per group).
PM_GROUP_ARGS=()
pm_setup() {
  local name=$1 port=${SVC_PORT[$1]} out=$BENCH_TMP/proactive-setup.txt resp g aid wid
  : >"$out"
  resp=$(http_request POST 127.0.0.1 "$port" /api/admin/tenants '{"name":"bench-proactive"}' \
    "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  pm_field "$resp" id
  PM[tid]=$REPLY
  pm_field "$resp" apiKey
  PM[key]=$REPLY
  [[ $resp == "HTTP/1.1 201"* && -n ${PM[tid]} && -n ${PM[key]} ]] || { show_log "$out"; die "$name: POST /api/admin/tenants failed"; }
  PM_GROUP_ARGS=()
  for ((g = 0; g < BENCH_PM_GROUPS; g++)); do
    pm_admin "$name" "$out" "/api/admin/tenants/${PM[tid]}/agents" "{\"name\":\"bench-agent-$g\",\"webhookUrl\":\"$PM_SINK_URL\"}"
    aid=$REPLY
    pm_admin "$name" "$out" "/api/admin/tenants/${PM[tid]}/widgets" \
      "{\"name\":\"bench-proactive-$g\",\"greeting\":\"hi\",\"allowedOrigins\":[],\"otpRequired\":false,\"agentId\":\"$aid\"}"
    wid=$REPLY
    PM_GROUP_ARGS+=(--widget "$wid" --agent "$aid")
  done
  log "$name: tenant ${PM[tid]}, $BENCH_PM_GROUPS agents -> $PM_SINK_URL, each with a widget routed to it"
}

# pm_redis_addr NAME — REPLY = HOST:PORT of the service's Redis (its own, or BENCH_REDIS_URL's).
pm_redis_addr() {
  if [[ -n ${SVC_PORT[$1-redis]:-} ]]; then
    REPLY=127.0.0.1:${SVC_PORT[$1-redis]}
    return 0
  fi
  local u=${BENCH_REDIS_URL#redis://}
  u=${u##*@}
  u=${u%%/*}
  [[ $u == *:* ]] || u+=":6379"
  REPLY=$u
}

pm_ms_us() { awk -v m="$1" 'BEGIN { if (m == "" || m == "-") print "-"; else printf "%.0f", m * 1000 }'; }

scenario_proactive() {
  bench_have_sb || return 0
  need_cmd python3
  local t=$BENCH_PM_THREADS n=$BENCH_PM_CONVS name=sb-pm out rc=0 line kv label note st remark mon=() errs
  local detail=$BENCH_TMP/proactive-detail.txt
  [[ -n $BENCH_REDIS_URL ]] \
    && warn "BENCH_REDIS_URL is set: proactive writes $n sessions and conversations into that Redis, and reads its sb:pm:due"
  pm_sink
  sb_start "$name" "$t" --trusted-proxies 127.0.0.1/32 --allow-private-targets 127.0.0.0/8
  pm_setup "$name"
  pm_redis_addr "$name"
  local raddr=$REPLY
  mon=(--pid "sb=${SVC_PID[$name]}")
  [[ -n ${SVC_PID[$name-redis]:-} ]] && mon+=(--pid "redis=${SVC_PID[$name-redis]}")

  out=$BENCH_TMP/proactive-probe.txt
  ((BENCH_PM_GROUPS >= 1)) || die "BENCH_PM_GROUPS must be 1 or more"
  log "proactive: $n sessions in $BENCH_PM_GROUPS groups, message_received + $((BENCH_PM_DELAY + BENCH_PM_GROUPS - 1))..${BENCH_PM_DELAY} s triggers, $n first messages ($BENCH_PM_CONNS conns x $BENCH_PM_WINDOW pipelined, the groups 1 s apart), then the firings"
  run_child "$out" python3 "$BENCH_DIR/proactive_probe.py" run --port "${SVC_PORT[$name]}" --redis "$raddr" \
    --tenant "${PM[tid]}" --key "${PM[key]}" "${PM_GROUP_ARGS[@]}" \
    -n "$n" --delay "$BENCH_PM_DELAY" --conns "$BENCH_PM_CONNS" --window "$BENCH_PM_WINDOW" \
    --timeout "$BENCH_PM_TIMEOUT" --schedule "$BENCH_PM_SCHEDULE" --detail "$detail" "${mon[@]}" \
    --progress-fd 3 --progress-t0 "$(($(date +%s) - (SECONDS - BENCH_T0)))" 3>&2 || rc=$?
  svc_alive "$name" || { show_log "$out"; show_log "${SVC_LOG[$name]}"; die "$name died during the proactive run"; }
  ((rc == 4)) && { show_log "$out" 5; die "proactive: POST /api/proactive-messages answered 404 — this build has no proactive messages (docs/proactive.md)"; }
  if ((rc == 1 || rc == 2)) || ! line=$(grep '^proactive ' "$out"); then
    show_log "$out"
    die "proactive_probe.py failed with status $rc"
  fi
  ((rc == 0)) || warn "proactive: incomplete (refused requests, missing or duplicate firings); see the row"
  PM=()
  for kv in ${line#proactive }; do PM[${kv%%=*}]=${kv#*=}; done
  svc_mem_kb "$name" VmHWM
  PM[rss_kb]=$REPLY
  log "proactive: fired ${PM[fired]}/$n, duplicates ${PM[dup]} (+${PM[extra]} messages), missing ${PM[missing]}, foreign ${PM[foreign]}, early ${PM[early]}; lag p50 ${PM[lag_p50_ms]} ms, p99 ${PM[lag_p99_ms]} ms, max ${PM[lag_max_ms]} ms; due times spread ${PM[due_spread_ms]} ms (densest second ${PM[due_1s_max]} due); fireCount ${PM[fire_count]}; due set left ${PM[due_left]}"

  # Row 1: the firings. requests/s = firings / (last firing - first due time).
  local cpu="CPU sb ${PM[cpu_sb]:--}%"
  [[ -n ${PM[cpu_redis]:-} ]] && cpu+=", redis ${PM[cpu_redis]}%"
  label="proactive $n firings sb-${t}t"
  ((BENCH_PM_SCHEDULE > 0)) && label="proactive $n schedule firings sb-${t}t"
  note="fired ${PM[fired]}/$n, duplicates ${PM[dup]}, foreign ${PM[foreign]}, early ${PM[early]}; lag max ${PM[lag_max_ms]} ms, min ${PM[lag_min_ms]} ms"
  note+="; on the live channel p50/p99/max ${PM[obs_p50_ms]}/${PM[obs_p99_ms]}/${PM[obs_max_ms]} ms (${PM[obs_n]} seen)"
  note+="; due times spread ${PM[due_spread_ms]} ms, densest second ${PM[due_1s_max]} due; firings from ${PM[first_fired_ms]} to ${PM[last_fired_ms]} ms after the first due time"
  note+="; fireCount ${PM[fire_count]}, due set left ${PM[due_left]}; $cpu over the ${PM[wait_s]} s from the first due time"
  errs=$((PM[missing] + PM[extra] + PM[foreign]))
  row_add "$label" "${PM[fire_per_s]}" "$(pm_ms_us "${PM[lag_p50_ms]}")" "$(pm_ms_us "${PM[lag_p99_ms]}")" "${PM[rss_kb]}" \
    "-" "$errs" "-" "$note"

  # Row 2: the burst of first messages that scheduled them.
  label="proactive ingest $n first messages sb-${t}t"
  note="$(awk -v s="${PM[send_s]}" 'BEGIN { printf "%.2f", s }') s sending ${PM[messages]}/$n (201) in ${PM[groups]} groups 1 s apart (latest group start +${PM[group_late_ms]} ms late), createdAt spread ${PM[spread_ms]} ms; ${PM[scheduled]} firings scheduled"
  note+="; $n session starts before in ${PM[session_s]} s; $BENCH_PM_CONNS conns x $BENCH_PM_WINDOW pipelined (latency includes the wait in the pipeline)"
  row_add "$label" "${PM[send_per_s]}" "$(pm_ms_us "${PM[post_p50_ms]}")" "$(pm_ms_us "${PM[post_p99_ms]}")" "${PM[rss_kb]}" \
    "-" "$((n - PM[messages]))" "-" "$note"

  table_note "proactive rows: firings: requests/s = firings / (last firing - first due time); p50/p99 = lag, createdAt of the proactive message - (createdAt of the customer message + its group's delay); errors = conversations without a firing + extra firings + another group's firings; 'on the live channel' = when a pub/sub subscriber got it, - due. ingest: requests/s = first messages/s (201) while sending, p50/p99 = their round trip."

  # Targets: all fire exactly once; p99 lag <= 1 s (10,000 due within about a second, 2 threads).
  remark=""
  ((PM[missing] == 0 && PM[dup] == 0 && PM[foreign] == 0 && PM[fired] == n)) \
    || remark=" (${PM[missing]} missing, ${PM[dup]} with duplicates, ${PM[foreign]} of another group)"
  if [[ ${PM[complete]} == 1 ]]; then st=PASS; else st=FAIL; fi
  local kind="event firings due within ~1 s"
  ((BENCH_PM_SCHEDULE > 0)) && kind="firings of $BENCH_PM_GROUPS schedule occurrences (one instant)"
  target_add "proactive: $n $kind fire exactly once" \
    "${PM[fired]}/$n fired, ${PM[dup]} duplicates, ${PM[missing]} missing$remark" "$st"
  remark="; due times spread over ${PM[due_spread_ms]} ms, densest second ${PM[due_1s_max]} due"
  if [[ $n != 10000 || $t != 2 ]]; then
    st="n/a"
  elif [[ ${PM[lag_p99_ms]} == - ]]; then
    st=FAIL
  else
    cmp_status "${PM[lag_p99_ms]}" "<=" 1000
    st=$REPLY
    [[ ${PM[complete]} == 1 ]] || { st=FAIL; remark+="; not all fired exactly once"; }
  fi
  target_add "proactive: p99 (fired - due) <= 1 s, 10,000 due in the same second, 2 threads" \
    "$(fmt_us "$(pm_ms_us "${PM[lag_p99_ms]}")") (p50 $(fmt_us "$(pm_ms_us "${PM[lag_p50_ms]}")"), max $(fmt_us "$(pm_ms_us "${PM[lag_max_ms]}")"))$remark" "$st"
}
