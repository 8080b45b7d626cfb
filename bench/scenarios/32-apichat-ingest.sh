# shellcheck shell=bash
# bench/scenarios/32-apichat-ingest.sh — API chat ingest: POST /api/apichat/{code} (the
# workspace's bot_url, docs/apichat.md "The bot_url and the channel") with the seed's text
# message body, the tenant's API key as the flow key (Authorization: Bearer). Each request:
# parse and check the JSON, find the workspace's apichat channel (the loop's 1 s binding cache),
# then one script in Redis (apichat_accept) that checks the key, the code and the workspace (the
# key among the workspace's API keys, the code its verified webhook's, the workspace active) and
# only then claims the message's id (SET NX EX) and queues it (XADD sb:q:in); the 200 goes out
# then. The script is batched per loop iteration, like Slack's claim.
#
# switchboard with 2 threads (sb-2t: the queue worked off meanwhile by the same instance) and
# with 2 threads and --process-queues 0 (sb-2t-http: the handler alone), each with its own
# Redis and --allow-private-targets 127.0.0.0/8. On each, through the admin and partner APIs:
# a tenant, an agent (webhookUrl: the same local nginx sink as slack_ingest's, whose answer
# carries no reply, so nothing is sent back out), an apichat channel, a partner reaching the
# tenant, and the workspace's webhook, verified against a small python3 front end that answers
# the hub_challenge (it is idle during the runs); then one bot_url POST by hand that must
# answer 200.
#
# bench/wrk/apichat.lua makes the requests itself (no signature, no file): text messages that
# rotate over BENCH_APICHAT_CHATS (1000) conversations, each with a unique Idempotency-Key
# (BENCH_APICHAT_IDEM=1; 0: none, every POST is then a new message all the same), and counts
# the answers that are not 200 (any fails the row). Warm-up, interleaving (sb-2t, sb-2t-http)
# and best-of-BENCH_ROUNDS as for slack_ingest; the CPU split and the queue side in the note as
# there (the backlog dropped after each run).
#
# The comparison: run it with slack_ingest in the same invocation
# (bench/run.sh slack_ingest apichat_ingest) and the targets read apichat sb-2t-http over
# slack_ingest sb-2t-http (>= 0.9x, the handlers alone) with the sb-2t ratio beside it, and
# apichat sb-2t's p99 (<= 5 ms at 64 connections). Without the Slack rows the ratio is n/a.

bench_scenario apichat_ingest "POST /api/apichat/{code}, API chat text messages over 1000 chats, flow key + unique Idempotency-Key (key/code check + dedup claim + enqueue): switchboard 2 threads; compare with slack_ingest"

: "${BENCH_APICHAT_CHATS:=1000}" # apichat_ingest: conversations the messages rotate over
: "${BENCH_APICHAT_IDEM:=1}"     # apichat_ingest: 1 = a unique Idempotency-Key per request, 0 = none

declare -A AC_PATH=() AC_KEY=() AC_CPU_RUN=() AC_BAD=() AC_BAD_RUN=()
AC_RUN=0
AC_LUA=apichat.lua

# The hub_* verifier (docs/apichat.md "POST: setting a webhook"): answers every POST with the
# form's hub_challenge, GET /healthz with 200.   python3 -c "$AC_FRONT_PY" PORT
AC_FRONT_PY=$(
  cat <<'PY'
import http.server, sys, urllib.parse

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(b"ok")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"))
        self.answer(form.get("hub_challenge", [""])[0].encode())

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
)

# ac_front — the verifier, started once per scenario (svc apichat-front); REPLY = its URL.
ac_front() {
  if ! { [[ -n ${SVC_PID[apichat-front]:-} ]] && svc_alive apichat-front; }; then
    free_port
    SVC_PORT[apichat-front]=$REPLY
    SVC_DIR[apichat-front]=$BENCH_TMP/apichat-front
    mkdir -p "${SVC_DIR[apichat-front]}"
    svc_spawn apichat-front python "${SVC_DIR[apichat-front]}/front.log" python3 -c "$AC_FRONT_PY" "$REPLY"
    wait_http apichat-front /healthz
  fi
  REPLY="http://127.0.0.1:${SVC_PORT[apichat-front]}/hook"
}

# ac_field RESPONSE NAME — REPLY = the string member NAME of a raw response's body ("" if none).
ac_field() { REPLY=$(tail -n 1 <<<"$1" | grep -o "\"$2\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4 || true); }

# ac_setup NAME — tenant, agent (the sink), apichat channel, partner and verified webhook on
# service NAME, then one bot_url POST by hand that must answer 200. AC_PATH[NAME], AC_KEY[NAME].
ac_setup() {
  local name=$1 port=${SVC_PORT[$1]} out=$BENCH_TMP/apichat-setup-$1.txt tid key aid pkey resp front vkey
  : >"$out"
  in_sink
  ac_front
  front=$REPLY
  resp=$(http_request POST 127.0.0.1 "$port" /api/admin/tenants '{"name":"bench-apichat"}' \
    "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  ss_id "$resp"
  tid=$REPLY
  ac_field "$resp" apiKey
  key=$REPLY
  [[ $resp == "HTTP/1.1 201"* && -n $tid && -n $key ]] || { show_log "$out"; die "$name: POST /api/admin/tenants failed"; }
  in_rand 16
  in_admin "$name" "$out" POST "/api/admin/tenants/$tid/agents" \
    "{\"name\":\"bench-agent\",\"webhookUrl\":\"$IN_SINK_URL\",\"secret\":\"$REPLY\"}"
  aid=$REPLY
  in_admin "$name" "$out" POST "/api/admin/tenants/$tid/channels" \
    "{\"type\":\"apichat\",\"agentId\":\"$aid\",\"config\":{}}"
  resp=$(http_request POST 127.0.0.1 "$port" /api/admin/partners \
    "{\"name\":\"bench-partner\",\"tenantIds\":[\"$tid\"]}" "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  ac_field "$resp" key
  pkey=$REPLY
  [[ $resp == "HTTP/1.1 201"* && -n $pkey ]] || { show_log "$out"; die "$name: POST /api/admin/partners failed"; }
  in_rand 16
  vkey=$REPLY
  resp=$(http_request POST 127.0.0.1 "$port" "/api/partner/workspace/$tid/apichat-webhook" \
    "{\"webhook_url\":\"$front\",\"webhook_verification_key\":\"$vkey\"}" "Authorization: Bearer $pkey") || true
  printf '%s\n' "$resp" >>"$out"
  ac_field "$resp" bot_url
  [[ $resp == "HTTP/1.1 200"* && $REPLY == */api/apichat/* ]] || { show_log "$out"; die "$name: setting the API chat webhook failed"; }
  AC_PATH[$name]=/api/apichat/${REPLY##*/api/apichat/}
  AC_KEY[$name]=$key
  resp=$(http_request POST 127.0.0.1 "$port" "${AC_PATH[$name]}" \
    '{"content":"bench check","message_type":"incoming","sender":{"id":"bench-check","name":"","email":"","phone_number":"","type":"contact"},"conversation_id":1,"event":"message_created"}' \
    "Authorization: Bearer $key") || true
  printf '%s\n' "$resp" >>"$out"
  [[ $resp == "HTTP/1.1 200"* ]] || { show_log "$out"; die "$name: a POST ${AC_PATH[$name]} did not answer 200: ${resp%%$'\n'*}"; }
  log "$name: tenant $tid, agent $aid -> $IN_SINK_URL, apichat channel, webhook $front verified; the bot_url answers 200"
}

# ac_env NAME — the wrk script's environment for one run against NAME (a new run number).
ac_env() {
  AC_RUN=$((AC_RUN + 1))
  wrk_threads
  export BENCH_APICHAT_PATH=${AC_PATH[$1]} BENCH_APICHAT_KEY=${AC_KEY[$1]} BENCH_APICHAT_RUN=$AC_RUN
  export BENCH_APICHAT_CHATS BENCH_APICHAT_IDEM BENCH_APICHAT_THREADS=$REPLY
}

# ac_measure LABEL NAME ROUND — one measured wrk run, with over that run the CPU split, the queue
# side and the non-200 count (as in_measure of slack_ingest).
ac_measure() {
  local label=$1 name=$2 r=$3 hz rpid=${SVC_PID[$2-redis]:-} rport=${SVC_PORT[$2-redis]:-}
  local spid=$IN_SINK_PIDS sb0 sb1 rd0=0 rd1=0 sk0=0 sk1=0 m0 m1 e0="0 0" e1="0 0" t0 t1
  local d0 d1 bad detail reqs cpu q
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  ac_env "$name"
  in_metric "$name" '^switchboard_deliveries_total[{].*outcome="success"'; d0=$REPLY
  svc_ticks "$name"; sb0=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd0=$REPLY; ss_evalsha "$rport"; e0=$REPLY; fi
  [[ -n $spid ]] && { in_sink_ticks; sk0=$REPLY; }
  ss_machine; m0=$REPLY
  t0=$EPOCHREALTIME
  wrk_measure "$label" "$name" "${AC_PATH[$name]}" "$r" "$AC_LUA"
  t1=$EPOCHREALTIME
  ss_machine; m1=$REPLY
  svc_ticks "$name"; sb1=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd1=$REPLY; ss_evalsha "$rport"; e1=$REPLY; fi
  [[ -n $spid ]] && { in_sink_ticks; sk1=$REPLY; }
  in_metric "$name" '^switchboard_deliveries_total[{].*outcome="success"'; d1=$REPLY
  in_settle "$name"
  q=$REPLY
  detail=$(sed -n 's/^non-200 responses: //p' "$WRK_LAST_OUT")
  bad=${detail%% *}
  [[ $bad =~ ^[0-9]+$ ]] || { show_log "$WRK_LAST_OUT"; die "$label: no 'non-200 responses' line in the wrk output (bench/wrk/$AC_LUA)"; }
  reqs=$(awk '/requests in/ { print $1; exit }' "$WRK_LAST_OUT")
  cpu=$(awk -v a="$sb0" -v b="$sb1" -v c="$rd0" -v d="$rd1" -v s0="$sk0" -v s1="$sk1" -v sk="$spid" \
    -v t0="$t0" -v t1="$t1" -v hz="$hz" -v rd="$rpid" -v m="$m0 $m1" -v e="$e0 $e1" \
    -v reqs="${reqs:-0}" -v q="$q" -v dl="$((d1 - d0))" 'BEGIN {
    w = t1 - t0; if (w <= 0) w = 1
    split(m, mm, " "); split(e, ee, " "); split(q, qq, " ")
    s = sprintf("CPU sb %.0f%%", 100 * (b - a) / hz / w)
    if (rd != "") {
      s = s sprintf(", redis %.0f%%", 100 * (d - c) / hz / w)
      n = ee[3] - ee[1]
      if (n > 0 && reqs > 0) s = s sprintf(" (in scripts %.0f%%, %.1f us/request, %.2f script runs/request)", 100 * (ee[4] - ee[2]) / 1e6 / w, (ee[4] - ee[2]) / reqs, n / reqs)
    }
    if (sk != "") s = s sprintf(", sink %.0f%%", 100 * (s1 - s0) / hz / w)
    if (mm[4] > mm[2]) s = s sprintf(", machine %.0f%% busy", 100 * (mm[3] - mm[1]) / (mm[4] - mm[2]))
    if (qq[1] ~ /^[0-9]+$/ && reqs > 0) {
      done = reqs - qq[1]; if (done < 0) done = 0
      s = s sprintf("; queue side: %d of %d messages stored (%.0f/s), %d agent deliveries, backlog %d + %s deliveries dropped", done, reqs, done / w, dl, qq[1], qq[2])
    } else {
      s = s sprintf("; queue side: %d agent deliveries", dl)
    }
    print s }')
  AC_CPU_RUN[$label/$r]=$cpu
  AC_BAD_RUN[$label/$r]=$bad
  AC_BAD[$label]=$((${AC_BAD[$label]:-0} + bad))
  log "$label round $r: $cpu; non-200 answers $bad"
  ((bad == 0)) || warn "$label round $r: $bad answers were not 200 ($detail); the row fails"
}

# ac_targets — apichat over slack_ingest (both rows), and apichat sb-2t's p99.
ac_targets() {
  local hl="apichat_ingest sb-2t-http" pl="apichat_ingest sb-2t" sh="slack_ingest sb-2t-http" sp="slack_ingest sb-2t"
  local ratio pratio st remark="" p99
  [[ -n ${BEST_RPS[$hl]:-} ]] || return 0
  ratio_of "$hl" "$sh"
  ratio=$REPLY
  ratio_of "$pl" "$sp"
  pratio=$REPLY
  [[ ${AC_BAD[$hl]:-0} == 0 ]] || remark=" (${AC_BAD[$hl]} non-200 answers)"
  if [[ -n $ratio ]]; then
    cmp_status "$ratio" ">=" 0.9
    st=$REPLY
    [[ ${AC_BAD[$hl]:-0} == 0 && ${IN_BAD[$sh]:-0} == 0 ]] || st=FAIL
    target_add "apichat ingest >= 0.9x slack ingest requests/s, 2 threads (handlers alone: apichat sb-2t-http / slack_ingest sb-2t-http)" \
      "${ratio}x ($(fmt_rps "${BEST_RPS[$hl]}")/s vs $(fmt_rps "${BEST_RPS[$sh]}")/s)$remark; with the queue worked meanwhile (sb-2t / sb-2t) ${pratio:-?}x ($(fmt_rps "${BEST_RPS[$pl]:-}")/s vs $(fmt_rps "${BEST_RPS[$sp]:-}")/s)" "$st"
  else
    target_add "apichat ingest >= 0.9x slack ingest requests/s, 2 threads" \
      "no slack_ingest rows in this run (bench/run.sh slack_ingest apichat_ingest)" "n/a"
  fi
  p99=${BEST_P99[$pl]:-}
  [[ -n $p99 && $p99 != - ]] || return 0
  p99_status "$p99" "${AC_BAD[$pl]:-0}"
  st=$REPLY
  target_add "apichat ingest p99 <= 5 ms at 64 connections (sb-2t)" \
    "$(fmt_us "$p99") (c=$BENCH_CONNECTIONS); sb-2t-http $(fmt_us "${BEST_P99[$hl]:--}"); slack_ingest sb-2t $(fmt_us "${BEST_P99[$sp]:--}")" "$st"
}

scenario_apichat_ingest() {
  bench_have_sb || return 0
  local order=(sb-2t sb-2t-http) name r label note sock
  need_cmd python3
  [[ -n $BENCH_REDIS_URL ]] \
    && warn "BENCH_REDIS_URL is set: apichat_ingest writes a claim key (TTL 1 day) and a queue item per message into that Redis, and leaves the queue backlog to run in the background"
  sb_start sb-2t 2 --allow-private-targets 127.0.0.0/8
  ac_setup sb-2t
  sb_start sb-2t-http 2 --allow-private-targets 127.0.0.0/8 --process-queues 0
  ac_setup sb-2t-http
  if [[ $BENCH_WARMUP != 0 && $BENCH_WARMUP != 0s ]]; then
    for name in "${order[@]}"; do
      ac_env "$name"
      wrk_warmup "$name" "${AC_PATH[$name]}" "$AC_LUA"
      in_settle "$name"
    done
  fi
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for name in "${order[@]}"; do
      ac_measure "apichat_ingest $name" "$name" "$r"
    done
  done
  for name in "${order[@]}"; do
    label="apichat_ingest $name"
    [[ -n ${BEST_RPS[$label]:-} ]] || continue
    note=""
    [[ $name == sb-2t-http ]] && note="--process-queues 0: key/code check + dedup claim + enqueue only; "
    note+=${AC_CPU_RUN[$label/${BEST_ROUND[$label]}]}
    [[ ${AC_BAD[$label]:-0} == 0 ]] || note+="; FAILED: ${AC_BAD[$label]} non-200 answers over all runs"
    sock=$(awk '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 } END { print n + 0 }' "${BEST_FILE[$label]}")
    # shellcheck disable=SC2034,SC2004  # BEST_ERR: lib.sh's associative array, read by row_from_best
    BEST_ERR[$label]=$((sock + ${AC_BAD_RUN[$label/${BEST_ROUND[$label]}]:-0}))
    row_from_best "$label" "-" "$note"
  done
  table_note "apichat_ingest rows: requests/s = API chat text messages accepted/s at the bot_url (conversation_id over $BENCH_APICHAT_CHATS chats, $([[ $BENCH_APICHAT_IDEM == 1 ]] && echo "a unique Idempotency-Key each" || echo "no Idempotency-Key")); errors, CPU and queue side as for slack_ingest. The ratio to slack_ingest is read from the rows of the same run (targets)."
  ac_targets
}
