# shellcheck shell=bash
# bench/scenarios/33-incoming-send.sh — the incoming "send" webhook (docs/incoming.md, seed 002):
# POST /api/incoming/{token} with {"action":"send","phone":"+1555...","text":"bench"}. Each
# request: find the tenant by the token, check the JSON body (action, text, the one recipient
# and its form), pick the account (the tenant's WhatsApp binding), then the accepting script in
# Redis (batched): the URL's rate limit (GCRA), the credits (balance -= 1, held += 1) and the
# send queued on the inbound stream; the 200 {"status":"success","data":{"message_id":
# "wa_backend:<id>"}} goes out then. The queue's consumer stores it afterwards (docs/incoming.md
# "The two steps"): the number's conversation (opened on its first activation, with
# dialog_created), the outbound message, the send record, its log entry, and the send joining
# the account's incoming line.
#
# switchboard with 2 threads (sb-2t: the queues worked meanwhile by the same instance) and with
# 2 threads and --process-queues 0 (sb-2t-http: the activation alone), each with its own Redis,
# --allow-private-targets 127.0.0.0/8 and --graph-api-base at a closed local port, so that the
# sends the incoming line lets out (one every 1.5-2.5 s per account, docs/incoming.md "Sending")
# never leave the machine: they fail to connect and are retried. On each, through the admin and
# tenant APIs: a tenant, an agent (webhookUrl: the local nginx sink of slack_ingest), a whatsapp
# channel (phoneNumberId, wabaId, appSecret, verifyToken, accessToken, displayPhone), a credit
# balance of 1,000,000,000 (PUT /api/admin/tenants/{id}/credits: so that every activation holds
# a credit, the "hold credits" of the target), GET /api/incoming-webhook (X-API-Key: the token),
# PUT /api/incoming-webhook {"rateLimit":{"perMinute":1000000}} (the highest allowed: the
# default 600 a minute would refuse almost every request), then one activation by hand that must
# answer 200 with a "wa_backend:" message id. A 404 from the webhook's routes stops the scenario:
# the build has no incoming webhook.
#
# bench/wrk/incoming_send.lua makes the requests itself (the token in the path is the only
# authentication): text sends to BENCH_INCOMING_PHONES (1000) numbers in turn, and counts the
# answers that are not 200 (any fails the row; a 429 is the URL's rate limit, a 402 the
# credits, a 400 the body).
#
# The comparison with Slack ingest is part of this scenario (the issue: "with the Slack ingest
# row measured in the same run"): the same run sets up two more switchboards as slack_ingest
# does (sb-2t-slack; sb-2t-http-slack with --process-queues 0; the in_* helpers of
# 30-slack-ingest.sh, pre-signed event_callback messages, a new event id each) and measures them
# interleaved with the incoming rows: per round incoming sb-2t, slack sb-2t, incoming
# sb-2t-http, slack sb-2t-http; warm-up and best-of-BENCH_ROUNDS as everywhere. Targets:
# incoming sb-2t-http / slack sb-2t-http >= 0.9 (the handlers alone, as apichat_ingest's; the
# sb-2t / sb-2t ratio beside it), incoming sb-2t's p99 <= 5 ms at 64 connections.
#
# Each incoming row's note: the CPU split of its best run (as slack_ingest's: switchboard, its
# Redis and the share inside scripts, the EVALSHA runs per request, the sink, the machine), then
# what the run left: the messages queued on the account's line and the credits held
# (GET /api/incoming-webhook, GET /api/credits: both grow by one per activation, the line lets
# one out every ~2 s), and how much Redis's used_memory grew per activation. Nothing is dropped
# between runs: the line only grows, and so do the send records the queue's consumer writes.

bench_scenario incoming_send "POST /api/incoming/{token}, incoming webhook text sends to 1000 numbers (token + body check, rate limit, hold credits, queue; the conversation message and the account's line from the queue): switchboard 2 threads, with slack_ingest's 2-thread rows measured in the same run"

: "${BENCH_INCOMING_PHONES:=1000}" # incoming_send: recipient numbers the activations rotate over

declare -A IS_PATH=() IS_KEY=() IS_CPU_RUN=() IS_BAD=() IS_BAD_RUN=() IS_BODY=()
IS_LUA=incoming_send.lua
IS_GRAPH_URL=""

# is_field RESPONSE NAME — REPLY = the string member NAME of a raw response's body ("" if none).
is_field() { REPLY=$(tail -n 1 <<<"$1" | grep -o "\"$2\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4 || true); }

# is_num RESPONSE NAME — REPLY = the first numeric member NAME of a raw response's body ("?" if none).
is_num() {
  REPLY=$(tail -n 1 <<<"$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2 || true)
  [[ -n $REPLY ]] || REPLY="?"
}

# is_status RESPONSE — REPLY = the status code of a raw response ("" when nothing answered).
is_status() { REPLY=$(head -n 1 <<<"$1" | awk '{ print $2 }'); }

# is_redis_mem NAME — REPLY = used_memory (bytes) of the service's own Redis, "" if unreadable.
is_redis_mem() {
  local port=${SVC_PORT[$1-redis]:-}
  REPLY=""
  [[ -n $port ]] || return 0
  REPLY=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
    printf 'INFO memory\r\nQUIT\r\n' >&3
    awk -F: '/^used_memory:/ { sub(/\r$/, "", $2); print $2; exit }' <&3
  ) 2>/dev/null || REPLY=""
}

# is_tenant NAME METHOD PATH BODY — a tenant API call (X-API-Key) on NAME; prints the response.
is_tenant() {
  http_request "$2" 127.0.0.1 "${SVC_PORT[$1]}" "$3" "$4" "X-API-Key: ${IS_KEY[$1]}" || true
}

# is_no_feature NAME WHAT — the scenario stops: this build has no incoming webhook.
is_no_feature() {
  die "incoming_send: $2 answered 404 on $1 — this build has no incoming \"send\" webhook (docs/incoming.md); build one that has it"
}

# is_setup NAME — tenant, agent (the sink), whatsapp channel, credits, the webhook's token and
# rate limit on service NAME, then one activation by hand that must answer 200.
# IS_PATH[NAME], IS_KEY[NAME].
is_setup() {
  local name=$1 port=${SVC_PORT[$1]} out=$BENCH_TMP/incoming-setup-$1.txt resp tid key aid cfg
  local pnid waba phone token mid
  : >"$out"
  in_sink
  resp=$(http_request POST 127.0.0.1 "$port" /api/admin/tenants '{"name":"bench-incoming"}' \
    "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  ss_id "$resp"
  tid=$REPLY
  is_field "$resp" apiKey
  key=$REPLY
  [[ $resp == "HTTP/1.1 201"* && -n $tid && -n $key ]] || { show_log "$out"; die "$name: POST /api/admin/tenants failed"; }
  IS_KEY[$name]=$key
  in_rand 16
  in_admin "$name" "$out" POST "/api/admin/tenants/$tid/agents" \
    "{\"name\":\"bench-agent\",\"webhookUrl\":\"$IN_SINK_URL\",\"secret\":\"$REPLY\"}"
  aid=$REPLY
  in_rand 4
  pnid="1$((0x$REPLY % 900000000 + 100000000))00"
  waba="2$((0x$REPLY % 900000000 + 100000000))00"
  phone="+1555$((0x$REPLY % 9000000 + 1000000))"
  in_rand 16
  cfg="{\"phoneNumberId\":\"$pnid\",\"wabaId\":\"$waba\",\"appSecret\":\"$REPLY\""
  in_rand 12
  cfg+=",\"verifyToken\":\"$REPLY\""
  in_rand 16
  cfg+=",\"accessToken\":\"bench-$REPLY\",\"displayPhone\":\"$phone\"}"
  in_admin "$name" "$out" POST "/api/admin/tenants/$tid/channels" \
    "{\"type\":\"whatsapp\",\"agentId\":\"$aid\",\"config\":$cfg}"
  # Credits: a balance, so that the accepting script holds one per activation.
  resp=$(http_request PUT 127.0.0.1 "$port" "/api/admin/tenants/$tid/credits" '{"balance":1000000000}' \
    "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  is_status "$resp"
  [[ $REPLY == 404 ]] && { show_log "$out" 4; is_no_feature "$name" "PUT /api/admin/tenants/{id}/credits"; }
  [[ $REPLY == 200 ]] || { show_log "$out"; die "$name: PUT /api/admin/tenants/$tid/credits answered '${REPLY}'"; }
  # The webhook: created on first use; its token; the URL's rate limit as high as it goes.
  resp=$(is_tenant "$name" GET /api/incoming-webhook "")
  printf '%s\n' "$resp" >>"$out"
  is_status "$resp"
  [[ $REPLY == 404 ]] && { show_log "$out" 4; is_no_feature "$name" "GET /api/incoming-webhook"; }
  is_field "$resp" token
  token=$REPLY
  [[ $resp == "HTTP/1.1 200"* && -n $token ]] || { show_log "$out"; die "$name: GET /api/incoming-webhook gave no token"; }
  resp=$(is_tenant "$name" PUT /api/incoming-webhook '{"rateLimit":{"perMinute":1000000}}')
  printf '%s\n' "$resp" >>"$out"
  [[ $resp == "HTTP/1.1 200"* && $resp == *'"perMinute":1000000'* ]] \
    || { show_log "$out"; die "$name: PUT /api/incoming-webhook {rateLimit: {perMinute: 1000000}} failed"; }
  IS_PATH[$name]=/api/incoming/$token
  # One activation by hand (a number outside the run's range).
  resp=$(http_request POST 127.0.0.1 "$port" "${IS_PATH[$name]}" \
    '{"action":"send","phone":"+15559999999","text":"bench check"}') || true
  printf '%s\n' "$resp" >>"$out"
  is_status "$resp"
  [[ $REPLY == 404 ]] && { show_log "$out" 4; is_no_feature "$name" "POST /api/incoming/{token} (the token GET /api/incoming-webhook gave)"; }
  is_field "$resp" message_id
  mid=$REPLY
  [[ $resp == "HTTP/1.1 200"* && $mid == wa_backend:* ]] \
    || { show_log "$out"; die "$name: an activation did not answer 200 with a wa_backend: message id: ${resp%%$'\n'*}"; }
  log "$name: tenant $tid, agent $aid -> $IN_SINK_URL, whatsapp account $phone (Graph API: $IS_GRAPH_URL, closed), balance 1000000000, rate limit 1000000/min; an activation answers 200 ($mid)"
}

# is_env NAME — the wrk script's environment for one run against NAME.
is_env() {
  wrk_threads
  export BENCH_INCOMING_PATH=${IS_PATH[$1]} BENCH_INCOMING_PHONES BENCH_INCOMING_THREADS=$REPLY
}

# is_left NAME — REPLY = "<queued> <held>": the account's queued messages and the credits held.
is_left() {
  local resp queued held
  resp=$(is_tenant "$1" GET /api/incoming-webhook "")
  is_num "$resp" queued
  queued=$REPLY
  resp=$(is_tenant "$1" GET /api/credits "")
  is_num "$resp" held
  held=$REPLY
  REPLY="$queued $held"
}

# is_measure LABEL NAME ROUND — one measured wrk run, with over that run the CPU split, what the
# run left queued and held, Redis's memory per activation and the non-200 count.
is_measure() {
  local label=$1 name=$2 r=$3 hz rpid=${SVC_PID[$2-redis]:-} rport=${SVC_PORT[$2-redis]:-}
  local spid=$IN_SINK_PIDS sb0 sb1 rd0=0 rd1=0 sk0=0 sk1=0 m0 m1 e0="0 0" e1="0 0" t0 t1
  local mem0 mem1 bad detail reqs cpu left
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  is_env "$name"
  is_redis_mem "$name"; mem0=$REPLY
  svc_ticks "$name"; sb0=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd0=$REPLY; ss_evalsha "$rport"; e0=$REPLY; fi
  [[ -n $spid ]] && { in_sink_ticks; sk0=$REPLY; }
  ss_machine; m0=$REPLY
  t0=$EPOCHREALTIME
  wrk_measure "$label" "$name" "${IS_PATH[$name]}" "$r" "$IS_LUA"
  t1=$EPOCHREALTIME
  ss_machine; m1=$REPLY
  svc_ticks "$name"; sb1=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd1=$REPLY; ss_evalsha "$rport"; e1=$REPLY; fi
  [[ -n $spid ]] && { in_sink_ticks; sk1=$REPLY; }
  is_redis_mem "$name"; mem1=$REPLY
  sleep 1 # what was in flight
  is_left "$name"
  left=$REPLY
  detail=$(sed -n 's/^non-200 responses: //p' "$WRK_LAST_OUT")
  bad=${detail%% *}
  [[ $bad =~ ^[0-9]+$ ]] || { show_log "$WRK_LAST_OUT"; die "$label: no 'non-200 responses' line in the wrk output (bench/wrk/$IS_LUA)"; }
  reqs=$(awk '/requests in/ { print $1; exit }' "$WRK_LAST_OUT")
  cpu=$(awk -v a="$sb0" -v b="$sb1" -v c="$rd0" -v d="$rd1" -v s0="$sk0" -v s1="$sk1" -v sk="$spid" \
    -v t0="$t0" -v t1="$t1" -v hz="$hz" -v rd="$rpid" -v m="$m0 $m1" -v e="$e0 $e1" \
    -v reqs="${reqs:-0}" -v left="$left" -v mem0="$mem0" -v mem1="$mem1" 'BEGIN {
    w = t1 - t0; if (w <= 0) w = 1
    split(m, mm, " "); split(e, ee, " "); split(left, ll, " ")
    s = sprintf("CPU sb %.0f%%", 100 * (b - a) / hz / w)
    if (rd != "") {
      s = s sprintf(", redis %.0f%%", 100 * (d - c) / hz / w)
      n = ee[3] - ee[1]
      if (n > 0 && reqs > 0) s = s sprintf(" (in scripts %.0f%%, %.1f us/request, %.2f script runs/request)", 100 * (ee[4] - ee[2]) / 1e6 / w, (ee[4] - ee[2]) / reqs, n / reqs)
    }
    if (sk != "") s = s sprintf(", sink %.0f%%", 100 * (s1 - s0) / hz / w)
    if (mm[4] > mm[2]) s = s sprintf(", machine %.0f%% busy", 100 * (mm[3] - mm[1]) / (mm[4] - mm[2]))
    s = s sprintf("; left: %s queued on the account line, %s credits held", ll[1], ll[2])
    if (mem0 != "" && mem1 != "" && reqs > 0) s = s sprintf(", redis +%.0f MiB (%.0f bytes/activation)", (mem1 - mem0) / 1048576, (mem1 - mem0) / reqs)
    print s }')
  IS_CPU_RUN[$label/$r]=$cpu
  IS_BAD_RUN[$label/$r]=$bad
  IS_BAD[$label]=$((${IS_BAD[$label]:-0} + bad))
  log "$label round $r: $cpu; non-200 answers $bad"
  if ((bad != 0)); then
    IS_BODY[$label]=$(sed -n 's/^first non-200 body: //p' "$WRK_LAST_OUT")
    warn "$label round $r: $bad answers were not 200 ($detail; first: ${IS_BODY[$label]}); the row fails"
  fi
}

# is_targets — incoming over slack (the handlers alone, with the sb-2t ratio beside), and
# incoming sb-2t's p99.
is_targets() {
  local hl="incoming_send sb-2t-http" pl="incoming_send sb-2t"
  local sh="incoming_send slack sb-2t-http" sp="incoming_send slack sb-2t"
  local ratio pratio st remark="" p99
  [[ -n ${BEST_RPS[$hl]:-} ]] || return 0
  ratio_of "$hl" "$sh"
  ratio=$REPLY
  ratio_of "$pl" "$sp"
  pratio=$REPLY
  [[ ${IS_BAD[$hl]:-0} == 0 ]] || remark=" (${IS_BAD[$hl]} non-200 answers)"
  [[ ${IN_BAD[$sh]:-0} == 0 ]] || remark+=" (slack: ${IN_BAD[$sh]} non-200 answers)"
  if [[ -n $ratio ]]; then
    cmp_status "$ratio" ">=" 0.9
    st=$REPLY
    [[ ${IS_BAD[$hl]:-0} == 0 && ${IN_BAD[$sh]:-0} == 0 ]] || st=FAIL
    [[ ${IN_REP_RUN[$sh/${BEST_ROUND[$sh]}]:-0} == 0 ]] || { st="n/a"; remark+=" (slack repeated event ids)"; }
    target_add "incoming send >= 0.9x slack ingest requests/s, 2 threads (handlers alone: incoming sb-2t-http / slack sb-2t-http, same run)" \
      "${ratio}x ($(fmt_rps "${BEST_RPS[$hl]}")/s vs $(fmt_rps "${BEST_RPS[$sh]}")/s)$remark; with the queues worked meanwhile (sb-2t / sb-2t) ${pratio:-?}x ($(fmt_rps "${BEST_RPS[$pl]:-}")/s vs $(fmt_rps "${BEST_RPS[$sp]:-}")/s)" "$st"
  fi
  p99=${BEST_P99[$pl]:-}
  [[ -n $p99 && $p99 != - ]] || return 0
  p99_status "$p99" "${IS_BAD[$pl]:-0}"
  st=$REPLY
  target_add "incoming send p99 <= 5 ms at 64 connections (sb-2t)" \
    "$(fmt_us "$p99") (c=$BENCH_CONNECTIONS); sb-2t-http $(fmt_us "${BEST_P99[$hl]:--}"); slack sb-2t $(fmt_us "${BEST_P99[$sp]:--}")" "$st"
}

scenario_incoming_send() {
  bench_have_sb || return 0
  local name r label note sock best bad rep
  # (service, label, kind) per run of a round, interleaved.
  local runs=("sb-2t|incoming_send sb-2t|incoming" "sb-2t-slack|incoming_send slack sb-2t|slack"
    "sb-2t-http|incoming_send sb-2t-http|incoming" "sb-2t-http-slack|incoming_send slack sb-2t-http|slack")
  local run kind
  need_cmd python3
  [[ -n $BENCH_REDIS_URL ]] \
    && warn "BENCH_REDIS_URL is set: incoming_send writes a queued item per activation into that Redis (and, as the queue stores it, a conversation message, a send record and a queued send) (and slack's claim keys and queue items), and leaves them"
  # The Graph API: a closed local port (registered, so no service of the run gets it).
  free_port
  IS_GRAPH_URL="http://127.0.0.1:$REPLY/v21.0"
  # The incoming servers first: a build without the feature stops here, before anything else.
  sb_start sb-2t 2 --allow-private-targets 127.0.0.0/8 --graph-api-base "$IS_GRAPH_URL"
  is_setup sb-2t
  sb_start sb-2t-http 2 --allow-private-targets 127.0.0.0/8 --graph-api-base "$IS_GRAPH_URL" --process-queues 0
  is_setup sb-2t-http
  sb_start sb-2t-slack 2 --allow-private-targets 127.0.0.0/8
  in_setup slack sb-2t-slack
  sb_start sb-2t-http-slack 2 --allow-private-targets 127.0.0.0/8 --process-queues 0
  in_setup slack sb-2t-http-slack
  if [[ $BENCH_WARMUP != 0 && $BENCH_WARMUP != 0s ]]; then
    for run in "${runs[@]}"; do
      IFS='|' read -r name label kind <<<"$run"
      if [[ $kind == slack ]]; then
        in_warmup slack "$name"
      else
        is_env "$name"
        wrk_warmup "$name" "${IS_PATH[$name]}" "$IS_LUA"
      fi
    done
  fi
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for run in "${runs[@]}"; do
      IFS='|' read -r name label kind <<<"$run"
      if [[ $kind == slack ]]; then
        in_measure slack "$label" "$name" "$r"
      else
        is_measure "$label" "$name" "$r"
      fi
    done
  done
  for run in "${runs[@]}"; do
    IFS='|' read -r name label kind <<<"$run"
    [[ -n ${BEST_RPS[$label]:-} ]] || continue
    best=${BEST_ROUND[$label]}
    sock=$(awk '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 } END { print n + 0 }' "${BEST_FILE[$label]}")
    note=""
    [[ $name == sb-2t-http* ]] && note="--process-queues 0: "
    if [[ $kind == slack ]]; then
      bad=${IN_BAD_RUN[$label/$best]:-0}
      rep=${IN_REP_RUN[$label/$best]:-0}
      [[ $name == sb-2t-http* ]] && note+="verify + dedup claim + enqueue only; "
      # shellcheck disable=SC2153  # IN_CPU_RUN: 30-slack-ingest.sh's, filled by in_measure
      note+=${IN_CPU_RUN[$label/$best]}
      ((rep == 0)) || note+="; $rep requests repeated an event id (not all new)"
      [[ ${IN_BAD[$label]:-0} == 0 ]] || note+="; FAILED: ${IN_BAD[$label]} non-200 answers over all runs"
    else
      bad=${IS_BAD_RUN[$label/$best]:-0}
      [[ $name == sb-2t-http* ]] && note+="the activation alone (nothing sent, no dialog_created delivered); "
      note+=${IS_CPU_RUN[$label/$best]}
      [[ ${IS_BAD[$label]:-0} == 0 ]] || note+="; FAILED: ${IS_BAD[$label]} non-200 answers over all runs (first: ${IS_BODY[$label]:-?})"
    fi
    # shellcheck disable=SC2034,SC2004  # BEST_ERR: lib.sh's associative array, read by row_from_best
    BEST_ERR[$label]=$((sock + bad))
    row_from_best "$label" "-" "$note"
  done
  table_note "incoming_send rows: requests/s = activations answered 200/s at POST /api/incoming/{token} ({\"action\":\"send\",\"phone\",\"text\"} over $BENCH_INCOMING_PHONES numbers; each holds a credit and queues a send on the account's line; the Graph API is a closed local port, so nothing leaves the machine); errors = socket errors + non-200 answers of the best run; CPU as for slack_ingest; left = what the account's line and the credits held after the run (cumulative over the runs of that server). The 'incoming_send slack' rows are slack_ingest's 2-thread rows measured in the same rounds, interleaved, for the ratio (targets)."
  is_targets
}
