# shellcheck shell=bash
# bench/scenarios/30-slack-ingest.sh — signed Slack ingest: POST /api/webhooks/slack with an
# Events API event_callback message (docs/channels.md). Each request: parse the JSON, find the
# binding (the loop's 1 s binding cache: no Redis call), verify X-Slack-Signature (HMAC-SHA256
# over "v0:" + timestamp + ":" + body, timestamp within 300 s), then one script in Redis that
# claims the event id (SET NX EX) and queues the message (XADD sb:q:in); the 200 goes out then.
#
# switchboard with 1 and 2 threads, and with 2 threads and --process-queues 0 (sb-2t-http: the
# handler alone, nothing worked off the queue), each with its own Redis and
# --allow-private-targets 127.0.0.0/8; on each a tenant, an agent and a slack channel (teamId +
# signingSecret) made through the admin API, and one signed request by hand that must answer 200.
# For slack also ref-2w, the Fastify + ioredis reference (bench/reference: the same verify +
# claim + enqueue; left out without node or with BENCH_REFERENCE=0). Runs are interleaved
# (sb-1t, sb-2t, sb-2t-http, ref-2w, then the nginx ceiling) and repeated BENCH_ROUNDS times
# like session_start; each row keeps its best run.
#
# Unique, signed requests. wrk's Lua has no HMAC, so right before every wrk run (warm-up too)
# in_gen (python3's hmac, both cores) writes a file of pre-signed requests with the current
# timestamp (valid 300 s; a run lasts BENCH_DURATION) and an event id used in no other run:
# BENCH_SLACK_MAX_RPS x the run's seconds of them (1.5 million for 10 s), more than the run can
# send, so dedup never short-circuits a request. bench/wrk/presigned.lua gives each wrk thread
# its own slice of the file, counts the answers that are not 200 (any fails the row: a 401 is a
# bad signature or a stale timestamp, a 400 a bad body) and the requests that had to repeat an
# event id because a slice ran out (the figure is then marked, the target n/a). The messages go
# to 64 Slack channels (64 conversations per server).
#
# The queue side. Every accepted message is also worked off the queue by the same switchboard
# (delivery engine, lane sb:q:in: the loop holding the inbound lease, up to 8 in flight): the
# channel_inbound script (open the conversation, append the message, emit) and then the
# message_received delivery to the agent. The agent's webhookUrl is a local sink (nginx, 1 worker, `return 200`, never pinned), so
# a delivery is one keep-alive POST that succeeds at once: no retries pile up and the deliveries
# themselves stay cheap (their CPU is in the note, "sink"). Storing the message is not cheap: it
# runs during the measurement on the same cores and, above all, in the same Redis as the ingest
# script, so the figure is the rate of the whole pipeline (accept + store + deliver) as a
# deployment under this load would see it, not of the webhook handler alone. The note says how
# many of the run's messages the queue side stored meanwhile and how many deliveries it made,
# and the EVALSHA calls per request (1 = the ingest script only; about 3 when every message is
# also stored and delivered in the same run). The backlog left at the end of a run (sb:q:in,
# sb:q:fresh) is dropped (XTRIM MAXLEN 0), so that it does not run on in the background during
# the other server's runs; with BENCH_REDIS_URL nothing is trimmed and a warning says so.
#
# The helpers in_* here are shared with bench/scenarios/31-whatsapp-ingest.sh; the CPU readers
# ss_ticks, ss_machine and ss_evalsha come from bench/scenarios/20-session-start.sh (run.sh
# sources every scenario file).

bench_scenario slack_ingest "POST /api/webhooks/slack, signed event_callback, new event id each (verify + dedup claim + enqueue): switchboard 1/2 threads"

: "${BENCH_SLACK_MAX_RPS:=150000}"    # slack_ingest: requests per second of run the request files hold
: "${BENCH_WHATSAPP_MAX_RPS:=60000}"  # whatsapp_ingest: the same

# Per kind (slack, whatsapp).
declare -A IN_PATH=([slack]=/api/webhooks/slack [whatsapp]=/api/webhooks/whatsapp)
declare -A IN_LUA=([slack]=presigned.lua [whatsapp]=presigned.lua)
declare -A IN_MSGS=([slack]=1 [whatsapp]=5)
declare -A IN_REF=([slack]=1) # kinds bench/reference implements
# Per service (NAME) and per kind/NAME.
declare -A IN_IDENT=() IN_SECRET=() IN_EXTRA=()
# Per label/round and per label.
declare -A IN_BAD=() IN_BAD_RUN=() IN_REP_RUN=() IN_MPS=() IN_CPU_RUN=()
IN_SERIAL=0
IN_SINK_URL=""
IN_SINK_PIDS=""

# The generator of the request files (see bench/wrk/presigned.lua for the format):
#   python3 -c "$IN_GEN_PY" KIND OUT N SERIAL SECRET IDENT EXTRA
# KIND slack: IDENT = teamId, SECRET = signingSecret; whatsapp: IDENT = phoneNumberId, EXTRA =
# the WABA id, SECRET = appSecret. Record i has the fields F (12 digits: SERIAL, then i), C (2
# digits, i mod 64: the Slack channel or the set of WhatsApp customers) and S (the signature,
# 64 hex). OUT.first gets request 0 in full (for the check by hand). Prints the timestamp used.
IN_GEN_PY=$(
  cat <<'PY'
import hashlib, hmac, multiprocessing, os, re, sys, time

kind, out, n, serial, secret, ident, extra = sys.argv[1:8]
n, serial, secret = int(n), int(serial), secret.encode()
ts = int(time.time())
F, C, S = b"\x01", b"\x02", b"\x03"  # field bytes of the template

if kind == "slack":
    body = (
        b'{"token":"bench-verification-token","team_id":"%(team)s","api_app_id":"ABENCH0001",'
        b'"event":{"client_msg_id":"bench-\x01","type":"message","text":"bench message \x01 from the load test",'
        b'"user":"UBENCH\x02","ts":"%(ts)d.\x01","team":"%(team)s","channel":"CBENCH\x02",'
        b'"event_ts":"%(ts)d.\x01","channel_type":"channel"},'
        b'"type":"event_callback","event_id":"Ev\x01","event_time":%(ts)d,'
        b'"authorizations":[{"enterprise_id":null,"team_id":"%(team)s","user_id":"UBENCHBOT",'
        b'"is_bot":true,"is_enterprise_install":false}],"is_ext_shared_channel":false,'
        b'"event_context":"4-bench-\x02"}'
    ) % {b"team": ident.encode(), b"ts": ts}
    head = (
        b"POST /api/webhooks/slack HTTP/1.1\r\nHost: bench\r\n"
        b"User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n"
        b"X-Slack-Request-Timestamp: " + str(ts).encode() + b"\r\nX-Slack-Signature: v0=\x03\r\n\r\n"
    )
    signed_prefix = b"v0:%d:" % ts
elif kind == "whatsapp":
    contacts, messages = [], []
    for j in range(1, 6):
        wa = b"155501\x02%02d" % j
        contacts.append(b'{"profile":{"name":"Bench Customer %d"},"wa_id":"%s"}' % (j, wa))
        messages.append(
            b'{"from":"%s","id":"wamid.HBgLMTU1NTAxQkVOQ0gVAgASGBQz\x01%d","timestamp":"%d",'
            b'"text":{"body":"bench message \x01.%d from the load test"},"type":"text"}' % (wa, j, ts, j)
        )
    body = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"%s","changes":[{"value":'
        b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550009999",'
        b'"phone_number_id":"%s"},"contacts":[%s],"messages":[%s]},"field":"messages"}]}]}'
    ) % (extra.encode(), ident.encode(), b",".join(contacts), b",".join(messages))
    head = (
        b"POST /api/webhooks/whatsapp HTTP/1.1\r\nHost: bench\r\n"
        b"User-Agent: facebookexternalua\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"X-Hub-Signature-256: sha256=\x03\r\n\r\n"
    )
    signed_prefix = b""
else:
    sys.exit("unknown kind " + kind)

widths = {F: 12, C: 2, S: 64}
blen = len(body) + sum((widths[f] - 1) * body.count(f) for f in (F, C))
head = head.replace(b"%d", b"%d" % blen, 1)
template = head + body
assert S not in body and F not in head and C not in head

# The signed part: everything before the body's first field byte is the same for every record
# (hashed once, then copied); the rest becomes a %-format over the field values.
parts = re.split(b"([\x01\x02])", body)
first = parts[0]
fmt = b"".join(p if p in (F, C) else p.replace(b"%", b"%%") for p in parts[1:])
order = [p for p in parts[1:] if p in (F, C)]
fmt = fmt.replace(F, b"%s").replace(C, b"%s")
mac0 = hmac.new(secret, signed_prefix + first, hashlib.sha256)


def chunk(rng):
    lo, hi = rng
    recs = []
    for i in range(lo, hi):
        f = b"%03d%09d" % (serial % 1000, i)
        c = b"%02d" % (i % 64)
        m = mac0.copy()
        m.update(fmt % tuple(f if x == F else c for x in order))
        recs.append(f + c + m.hexdigest().encode() + b"\n")
    return b"".join(recs)


if n < 1 or n >= 10**9:
    sys.exit("bad record count")
procs = max(1, min(os.cpu_count() or 1, 8))
step = max(1, -(-n // (procs * 8)))
ranges = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
with open(out, "wb") as fh:
    fh.write(b"SBREQ1 %d %d 3 12 2 64 %d\n" % (n, 12 + 2 + 64 + 1, len(template)))
    fh.write(template + b"\n")
    if procs > 1 and n > 20000:
        with multiprocessing.Pool(procs) as pool:
            for blob in pool.imap(chunk, ranges):
                fh.write(blob)
    else:
        for r in ranges:
            fh.write(chunk(r))
rec0 = chunk((0, 1))
req0 = template.replace(F, rec0[:12]).replace(C, rec0[12:14]).replace(S, rec0[14:78])
with open(out + ".first", "wb") as fh:
    fh.write(req0)
print(ts)
PY
)

# in_secs DURATION — REPLY = whole seconds (rounded up) of a wrk duration ("10s", "2m", "10").
in_secs() {
  REPLY=$(awk -v d="$1" 'BEGIN {
    n = d + 0; u = d; sub(/^[0-9.]+/, "", u)
    m = (u == "" || u == "s") ? 1 : (u == "m") ? 60 : (u == "h") ? 3600 : (u == "ms") ? 0.001 : -1
    if (m < 0) { print ""; exit }
    s = n * m; printf "%d", (s == int(s)) ? s : int(s) + 1 }')
  [[ -n $REPLY ]] || die "cannot read the duration '$1'"
}

# in_rand N — REPLY = 2N random hex characters.
in_rand() { REPLY=$(od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'); }

# in_redis NAME CMD... — one inline command to the service's own Redis; REPLY = the first line of
# the answer without its type byte ("" when NAME has no own Redis or nothing answered).
in_redis() {
  local port=${SVC_PORT[$1-redis]:-}
  shift
  REPLY=""
  [[ -n $port ]] || return 0
  REPLY=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
    printf '%s\r\nQUIT\r\n' "$*" >&3
    IFS= read -r -t 3 line <&3 && line=${line%$'\r'} && printf '%s' "${line#?}"
  ) 2>/dev/null || REPLY=""
}

# in_metric NAME PATTERN — REPLY = the value of the first /metrics line matching PATTERN (awk
# regex), 0 if none.
in_metric() {
  REPLY=$(http_get 127.0.0.1 "${SVC_PORT[$1]}" /metrics | awk -v p="$2" '$0 ~ p && v == "" { v = $NF } END { print v + 0 }') || REPLY=0
}

# in_sink — the agents' webhook target: an nginx with 1 worker answering 200 on /healthz (never
# pinned), started once per scenario. IN_SINK_URL = its URL. Without nginx: a closed local port
# (deliveries then fail and are retried later; a warning says so).
in_sink() {
  if [[ -n ${SVC_PID[ingest-sink]:-} ]] && svc_alive ingest-sink; then return 0; fi
  if [[ -n $NGINX_BIN && -x $NGINX_BIN ]]; then
    BENCH_PIN=0 nginx_start ingest-sink 1
    IN_SINK_URL="http://127.0.0.1:${SVC_PORT[ingest-sink]}/healthz"
    child_pids "${SVC_PID[ingest-sink]}"
    IN_SINK_PIDS="${SVC_PID[ingest-sink]} $REPLY"
  else
    free_port
    IN_SINK_URL="http://127.0.0.1:$REPLY/"
    warn "no nginx for the agent sink: the agent's deliveries go to a closed port ($IN_SINK_URL) and fail"
  fi
}

# in_sink_ticks — REPLY = utime + stime of the sink's processes (nginx master and worker).
in_sink_ticks() {
  local p t=0
  for p in $IN_SINK_PIDS; do ss_ticks "$p"; t=$((t + REPLY)); done
  REPLY=$t
}

# in_admin NAME OUT METHOD PATH BODY — an admin API call that must answer 201; REPLY = the id.
in_admin() {
  local name=$1 out=$2 resp
  resp=$(http_request "$3" 127.0.0.1 "${SVC_PORT[$name]}" "$4" "$5" "Authorization: Bearer $BENCH_ADMIN_TOKEN") || true
  printf '%s\n' "$resp" >>"$out"
  ss_id "$resp"
  [[ $resp == "HTTP/1.1 201"* && -n $REPLY ]] || { show_log "$out"; die "$name: $3 $4 failed"; }
}

# in_send NAME FILE — send the raw request in FILE; REPLY = the answer's status line and body.
in_send() {
  REPLY=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/${SVC_PORT[$1]}" || exit 0
    cat "$2" >&3
    while IFS= read -r -t 1 line <&3 || [[ -n $line ]]; do
      line=${line%$'\r'}
      case $line in HTTP/* | '{'*) printf '%s\n' "$line" ;; esac
      [[ $line == '{'* ]] && break
      line=""
    done
  ) 2>/dev/null || true
}

# in_setup KIND NAME — tenant, agent (webhookUrl: the sink) and a KIND channel on service NAME,
# then one signed request by hand, which must answer 200.
in_setup() {
  local kind=$1 name=$2 out=$BENCH_TMP/$1-setup-$2.txt tid aid cfg secret ident extra=""
  : >"$out"
  in_sink
  in_admin "$name" "$out" POST /api/admin/tenants "{\"name\":\"bench-$kind\"}"
  tid=$REPLY
  in_rand 16
  in_admin "$name" "$out" POST "/api/admin/tenants/$tid/agents" \
    "{\"name\":\"bench-agent\",\"webhookUrl\":\"$IN_SINK_URL\",\"secret\":\"$REPLY\"}"
  aid=$REPLY
  in_rand 16
  secret=$REPLY
  in_rand 4
  case $kind in
    slack)
      ident="TB${REPLY^^}"
      cfg="{\"teamId\":\"$ident\",\"signingSecret\":\"$secret\"}" ;;
    whatsapp)
      ident="1$((0x$REPLY % 900000000 + 100000000))00"
      extra="2$((0x$REPLY % 900000000 + 100000000))00"
      in_rand 12
      cfg="{\"phoneNumberId\":\"$ident\",\"wabaId\":\"$extra\",\"appSecret\":\"$secret\",\"verifyToken\":\"$REPLY\"}" ;;
  esac
  in_admin "$name" "$out" POST "/api/admin/tenants/$tid/channels" \
    "{\"type\":\"$kind\",\"agentId\":\"$aid\",\"config\":$cfg}"
  IN_IDENT[$kind/$name]=$ident
  IN_SECRET[$kind/$name]=$secret
  IN_EXTRA[$kind/$name]=$extra
  # The check by hand: a one-request file of its own (serial 999, never used by a run).
  local f=$BENCH_TMP/$kind-$name-check.req
  in_py "$kind" "$f" 1 999 "$secret" "$ident" "$extra"
  in_send "$name" "$f.first"
  printf '%s\n' "$REPLY" >>"$out"
  [[ $REPLY == "HTTP/1.1 200"* ]] || { show_log "$out"; die "$name: a signed POST ${IN_PATH[$kind]} did not answer 200: ${REPLY%%$'\n'*}"; }
  rm -f -- "$f" "$f.first"
  log "$name: tenant $tid, agent $aid -> $IN_SINK_URL, $kind channel $ident; a signed request answers 200"
}

# in_py KIND OUT N SERIAL SECRET IDENT EXTRA — run the generator; REPLY = the timestamp it used.
in_py() {
  local log=$BENCH_TMP/in-gen.log
  REPLY=$(python3 -c "$IN_GEN_PY" "$@" 2>"$log") || { show_log "$log"; die "generating $3 $1 requests failed"; }
}

# in_gen KIND NAME DURATION — the request file of one wrk run of DURATION against NAME, with event
# ids of no earlier run; exports BENCH_REQUESTS and BENCH_REQUEST_SLICES for the Lua script.
in_gen() {
  local kind=$1 name=$2 n max f t0
  in_secs "$3"
  max=$BENCH_SLACK_MAX_RPS
  [[ $kind == whatsapp ]] && max=$BENCH_WHATSAPP_MAX_RPS
  n=$((REPLY * max))
  ((n >= 1000)) || n=1000
  IN_SERIAL=$((IN_SERIAL + 1))
  f=$BENCH_TMP/$kind-$name-$IN_SERIAL.req
  t0=$EPOCHREALTIME
  in_py "$kind" "$f" "$n" "$IN_SERIAL" "${IN_SECRET[$kind/$name]}" "${IN_IDENT[$kind/$name]}" "${IN_EXTRA[$kind/$name]}"
  log "$name: $n signed $kind requests (timestamp $REPLY) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
  wrk_threads
  export BENCH_REQUESTS=$f BENCH_REQUEST_SLICES=$REPLY
}

# in_done — remove the request file of the last run.
in_done() {
  [[ -n ${BENCH_REQUESTS:-} ]] && rm -f -- "$BENCH_REQUESTS" "$BENCH_REQUESTS.first"
  return 0
}

# in_settle NAME — after a run: REPLY="in fresh" = the backlog of sb:q:in and sb:q:fresh, which
# is then dropped (XTRIM MAXLEN 0; with its own Redis only), and a second for what was in flight.
in_settle() {
  local name=$1 qin qfresh
  if [[ -z ${SVC_PID[$name-redis]:-} ]]; then REPLY="? ?"; return 0; fi
  in_redis "$name" XLEN sb:q:in
  qin=${REPLY:-?}
  in_redis "$name" XLEN sb:q:fresh
  qfresh=${REPLY:-?}
  in_redis "$name" XTRIM sb:q:in MAXLEN 0
  in_redis "$name" XTRIM sb:q:fresh MAXLEN 0
  sleep 1
  REPLY="$qin $qfresh"
}

# in_warmup KIND NAME — the unmeasured run (BENCH_WARMUP), with its own request file.
in_warmup() {
  local kind=$1 name=$2
  [[ $BENCH_WARMUP == 0 || $BENCH_WARMUP == 0s ]] && return 0
  in_gen "$kind" "$name" "$BENCH_WARMUP"
  wrk_warmup "$name" "${IN_PATH[$kind]}" "${IN_LUA[$kind]}"
  in_done
  in_settle "$name"
}

# in_measure KIND LABEL NAME ROUND — one measured wrk run with a fresh request file, plus over that
# run: the CPU of switchboard, its Redis (and the share inside scripts), the sink and the machine;
# the messages the queue side turned into conversation messages and the agent deliveries; the
# non-200 answers and repeated event ids the Lua script printed.
in_measure() {
  local kind=$1 label=$2 name=$3 r=$4 hz rpid=${SVC_PID[$3-redis]:-} rport=${SVC_PORT[$3-redis]:-}
  local spid=$IN_SINK_PIDS sb0 sb1 rd0=0 rd1=0 sk0=0 sk1=0 m0 m1 e0="0 0" e1="0 0" t0 t1
  local d0 d1 bad rep detail reqs cpu q
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  in_gen "$kind" "$name" "$BENCH_DURATION"
  in_metric "$name" '^switchboard_deliveries_total[{].*outcome="success"'; d0=$REPLY
  svc_ticks "$name"; sb0=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd0=$REPLY; ss_evalsha "$rport"; e0=$REPLY; fi
  [[ -n $spid ]] && { in_sink_ticks; sk0=$REPLY; }
  ss_machine; m0=$REPLY
  t0=$EPOCHREALTIME
  wrk_measure "$label" "$name" "${IN_PATH[$kind]}" "$r" "${IN_LUA[$kind]}"
  t1=$EPOCHREALTIME
  ss_machine; m1=$REPLY
  svc_ticks "$name"; sb1=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd1=$REPLY; ss_evalsha "$rport"; e1=$REPLY; fi
  [[ -n $spid ]] && { in_sink_ticks; sk1=$REPLY; }
  in_metric "$name" '^switchboard_deliveries_total[{].*outcome="success"'; d1=$REPLY
  in_settle "$name"
  q=$REPLY
  in_done
  # "non-200 responses: N (...)" and "repeated requests: N (...)" from the Lua script's done().
  detail=$(sed -n 's/^non-200 responses: //p' "$WRK_LAST_OUT")
  bad=${detail%% *}
  [[ $bad =~ ^[0-9]+$ ]] || { show_log "$WRK_LAST_OUT"; die "$label: no 'non-200 responses' line in the wrk output (bench/wrk/${IN_LUA[$kind]})"; }
  rep=$(sed -n 's/^repeated requests: \([0-9]*\).*/\1/p' "$WRK_LAST_OUT")
  reqs=$(awk '/requests in/ { print $1; exit }' "$WRK_LAST_OUT")
  cpu=$(awk -v a="$sb0" -v b="$sb1" -v c="$rd0" -v d="$rd1" -v s0="$sk0" -v s1="$sk1" -v sk="$spid" \
    -v t0="$t0" -v t1="$t1" -v hz="$hz" -v rd="$rpid" -v m="$m0 $m1" -v e="$e0 $e1" \
    -v reqs="${reqs:-0}" -v msgs="${IN_MSGS[$kind]}" -v q="$q" -v dl="$((d1 - d0))" -v who="${name%%-*}" 'BEGIN {
    w = t1 - t0; if (w <= 0) w = 1
    split(m, mm, " "); split(e, ee, " "); split(q, qq, " ")
    s = sprintf("CPU %s %.0f%%", who, 100 * (b - a) / hz / w)
    if (rd != "") {
      s = s sprintf(", redis %.0f%%", 100 * (d - c) / hz / w)
      n = ee[3] - ee[1]
      if (n > 0 && reqs > 0) s = s sprintf(" (in scripts %.0f%%, %.1f us/request, %.2f script runs/request)", 100 * (ee[4] - ee[2]) / 1e6 / w, (ee[4] - ee[2]) / reqs, n / reqs)
    }
    if (sk != "") s = s sprintf(", sink %.0f%%", 100 * (s1 - s0) / hz / w)
    if (mm[4] > mm[2]) s = s sprintf(", machine %.0f%% busy", 100 * (mm[3] - mm[1]) / (mm[4] - mm[2]))
    acc = reqs * msgs
    if (qq[1] ~ /^[0-9]+$/ && acc > 0) {
      done = acc - qq[1]; if (done < 0) done = 0
      s = s sprintf("; queue side: %d of %d messages stored (%.0f/s), %d agent deliveries, backlog %d + %s deliveries dropped", done, acc, done / w, dl, qq[1], qq[2])
    } else {
      s = s sprintf("; queue side: %d agent deliveries", dl)
    }
    print s }')
  IN_CPU_RUN[$label/$r]=$cpu
  IN_BAD_RUN[$label/$r]=$bad
  IN_BAD[$label]=$((${IN_BAD[$label]:-0} + bad))
  IN_REP_RUN[$label/$r]=${rep:-0}
  log "$label round $r: $cpu; non-200 answers $bad, repeated event ids ${rep:-0}"
  ((bad == 0)) || warn "$label round $r: $bad answers were not 200 ($detail); the row fails"
  [[ ${rep:-0} == 0 ]] || warn "$label round $r: ${rep} requests repeated an event id (a file slice ran out; raise BENCH_${kind^^}_MAX_RPS)"
}

# in_ref_setup KIND NAME — the reference (bench/reference) with a binding of its own (team id and
# signing secret in its environment), and one signed request by hand that must answer 200.
in_ref_setup() {
  local kind=$1 name=$2 f
  in_rand 4
  IN_IDENT[$kind/$name]="TR${REPLY^^}"
  in_rand 16
  IN_SECRET[$kind/$name]=$REPLY
  IN_EXTRA[$kind/$name]=""
  ref_start "$name" 2 SLACK_TEAM="${IN_IDENT[$kind/$name]}" SLACK_SECRET="${IN_SECRET[$kind/$name]}"
  f=$BENCH_TMP/$kind-$name-check.req
  in_py "$kind" "$f" 1 999 "${IN_SECRET[$kind/$name]}" "${IN_IDENT[$kind/$name]}" ""
  in_send "$name" "$f.first"
  [[ $REPLY == "HTTP/1.1 200"* ]] || { show_log "${SVC_LOG[$name]}"; die "$name: a signed POST ${IN_PATH[$kind]} did not answer 200: ${REPLY%%$'\n'*}"; }
  rm -f -- "$f" "$f.first"
}

# in_ceiling_measure KIND ROUND — the ceiling row's run: the same kind of signed requests (a fresh
# file, the sb-2t channel's secret) sent by the same wrk script to nginx with 2 workers, which
# answers 200 from the location alone: no body read beyond discarding it, no HMAC, no JSON, no
# Redis. What the load generator and the loopback TCP path allow on this machine; a server that
# verifies, claims and queues each request cannot pass it.
in_ceiling_measure() {
  local kind=$1 r=$2 name=ingest-nginx-2w label="$1_ingest nginx-2w" bad
  IN_SECRET[$kind/$name]=${IN_SECRET[$kind/sb-2t]}
  IN_IDENT[$kind/$name]=${IN_IDENT[$kind/sb-2t]}
  IN_EXTRA[$kind/$name]=${IN_EXTRA[$kind/sb-2t]}
  in_gen "$kind" "$name" "$BENCH_DURATION"
  wrk_measure "$label" "$name" "${IN_PATH[$kind]}" "$r" "${IN_LUA[$kind]}"
  in_done
  bad=$(sed -n 's/^non-200 responses: \([0-9]*\).*/\1/p' "$WRK_LAST_OUT")
  [[ ${bad:-x} == 0 ]] || warn "$label round $r: ${bad:-?} answers were not 200"
}

# in_run KIND — start both servers, set up, warm up, measure interleaved; rows and notes. The
# targets are the caller's.
in_run() {
  local kind=$1 order=(sb-1t sb-2t sb-2t-http) name r t label best note sock bad rep msgs
  need_cmd python3
  [[ -n $BENCH_REDIS_URL ]] \
    && warn "BENCH_REDIS_URL is set: ${kind}_ingest writes a claim key (TTL 1-7 days) and a queue item per message into that Redis, and leaves the queue backlog to run in the background"
  for t in 1 2; do
    sb_start "sb-${t}t" "$t" --allow-private-targets 127.0.0.0/8
    in_setup "$kind" "sb-${t}t"
  done
  sb_start sb-2t-http 2 --allow-private-targets 127.0.0.0/8 --process-queues 0
  in_setup "$kind" sb-2t-http
  if [[ -n ${IN_REF[$kind]:-} ]] && ref_ready; then
    in_ref_setup "$kind" ref-2w
    order+=(ref-2w)
  fi
  local ceiling=0
  if [[ -n $NGINX_BIN && -x $NGINX_BIN ]]; then
    BENCH_PIN=0 nginx_start ingest-nginx-2w 2
    ceiling=1
  fi
  for name in "${order[@]}"; do in_warmup "$kind" "$name"; done
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for name in "${order[@]}"; do
      in_measure "$kind" "${kind}_ingest $name" "$name" "$r"
    done
    if ((ceiling)); then in_ceiling_measure "$kind" "$r"; fi
  done

  msgs=${IN_MSGS[$kind]}
  for name in "${order[@]}"; do
    label="${kind}_ingest $name"
    [[ -n ${BEST_RPS[$label]:-} ]] || continue
    best=${BEST_ROUND[$label]}
    sock=$(awk '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 } END { print n + 0 }' "${BEST_FILE[$label]}")
    bad=${IN_BAD_RUN[$label/$best]:-0}
    rep=${IN_REP_RUN[$label/$best]:-0}
    # shellcheck disable=SC2034,SC2004  # BEST_ERR: lib.sh's associative array, read by row_from_best
    BEST_ERR[$label]=$((sock + bad))
    note=""
    if ((msgs > 1)); then
      IN_MPS[$label]=$(awk -v r="${BEST_RPS[$label]}" -v m="$msgs" 'BEGIN { printf "%.0f", r * m }')
      note="$(fmt_rps "${IN_MPS[$label]}") messages/s; "
    fi
    case $name in
      sb-2t-http) note+="--process-queues 0: verify + dedup claim + enqueue only, the queue left for later (the reference's scope); " ;;
      ref-*) note+="reference: Fastify + ioredis, node:cluster 2 workers, verify + dedup claim + enqueue in one Lua script; " ;;
    esac
    note+=${IN_CPU_RUN[$label/$best]}
    ((rep == 0)) || note+="; $rep requests repeated an event id (not all new)"
    [[ ${IN_BAD[$label]:-0} == 0 ]] || note+="; FAILED: ${IN_BAD[$label]} non-200 answers over all runs"
    row_from_best "$label" "-" "$note"
  done
  label="${kind}_ingest nginx-2w"
  if [[ -n ${BEST_RPS[$label]:-} ]]; then
    row_from_best "$label" "-" "ceiling: the same signed requests and wrk script, nginx 2 workers answering 200 unread (no HMAC, JSON or Redis)"
    table_note "${kind}_ingest nginx-2w: the ceiling of this machine for these requests — wrk with the request-file script and the loopback TCP path, against a server that does nothing with them. A requests/s target above it cannot be met here by any server."
  fi
}

# in_targets KIND [MIN_RPS SHOWN] — the p99 target (and, with MIN_RPS, the requests/s target,
# SHOWN as "80,000") of sb-2t.
in_targets() {
  local kind=$1 min=${2:-} shown=${3:-} ref_rps=${4:-} label="$1_ingest sb-2t" rps p99 p99_1 st remark="" rep
  local hl="$1_ingest sb-2t-http" hrps hremark="" ratio
  rps=${BEST_RPS[$label]:-}
  [[ -n $rps ]] || return 0
  [[ ${IN_BAD[$label]:-0} == 0 ]] || remark=" (${IN_BAD[$label]} non-200 answers)"
  rep=${IN_REP_RUN[$label/${BEST_ROUND[$label]}]:-0}
  hrps=${BEST_RPS[$hl]:-}
  if [[ -n $min && -n $hrps ]]; then
    # Judged on the row that does what the target names (verify + dedup + enqueue), the
    # pipeline row beside it.
    [[ ${IN_BAD[$hl]:-0} == 0 ]] || hremark=" (${IN_BAD[$hl]} non-200 answers)"
    cmp_status "$hrps" ">=" "$min"
    st=$REPLY
    [[ ${IN_REP_RUN[$hl/${BEST_ROUND[$hl]}]:-0} == 0 ]] || { st="n/a"; hremark+=" (repeated event ids)"; }
    [[ ${IN_BAD[$hl]:-0} == 0 ]] || st=FAIL
    target_add "$kind ingest >= $shown requests/s with 2 threads (verify + dedup + enqueue: sb-2t-http)" \
      "$(fmt_rps "$hrps")/s$hremark; with the queue worked meanwhile (sb-2t) $(fmt_rps "$rps")/s$remark" "$st"
    ratio_of "$hl" "${kind}_ingest ref-2w"
    ratio=$REPLY
    if [[ -n $ratio && -n $ref_rps ]]; then
      cmp_status "$ratio" ">=" "$(awk -v a="$min" -v b="$ref_rps" 'BEGIN { printf "%.3f", a / b }')"
      st=$REPLY
      [[ ${IN_BAD[$hl]:-0} == 0 && ${IN_BAD[${kind}_ingest ref-2w]:-0} == 0 ]] || st="n/a"
      target_add "$kind ingest >= ${min%000}/${ref_rps%000} ($(awk -v a="$min" -v b="$ref_rps" 'BEGIN { printf "%.2f", a / b }')x) of the Fastify + ioredis reference on this machine (sb-2t-http / ref-2w)" \
        "${ratio}x ($(fmt_rps "$hrps")/s vs $(fmt_rps "${BEST_RPS[${kind}_ingest ref-2w]}")/s)" "$st"
    fi
  fi
  p99=${BEST_P99[$label]:-}
  label="${kind}_ingest sb-1t"
  p99_1=${BEST_P99[$label]:-}
  label="${kind}_ingest sb-2t"
  [[ -n $p99 && $p99 != - ]] || return 0
  p99_status "$p99" "${IN_BAD[$label]:-0}"
  st=$REPLY
  local what="$kind ingest p99 <= 5 ms at 64 connections (sb-2t)"
  [[ -n $min ]] || what+="; not the issue's: it sets the p99 for Slack, the same line held here"
  target_add "$what" \
    "$(fmt_us "$p99") (c=$BENCH_CONNECTIONS)$remark; sb-1t $(fmt_us "${p99_1:--}")" "$st"
}

# in_bound_notes KIND — what bounded the 2-thread figure, when it is plain (as session_start).
in_bound_notes() {
  local kind=$1 label="$1_ingest sb-2t" note rd t
  note=${IN_CPU_RUN[$label/${BEST_ROUND[$label]:-0}]:-}
  rd=$(sed -n 's/.*redis \([0-9]*\)%.*/\1/p' <<<"$note")
  t=$(sed -n 's/.*in scripts \([0-9]*\)%.*/\1/p' <<<"$note")
  if [[ -n $rd ]] && ((rd >= 85 || ${t:-0} >= 60)); then
    table_note "${kind}_ingest: in the best sb-2t run Redis used ${rd}% of a core and was inside scripts ${t:-?}% of the time (the ingest script and the queue side's scripts); it runs them one at a time on one core, so it is the ceiling here, not switchboard."
  fi
  t=$(sed -n 's/.*machine \([0-9]*\)% busy.*/\1/p' <<<"$note")
  if [[ -n $t ]] && ((t >= 95)); then
    table_note "${kind}_ingest: the machine was ${t}% busy in the best sb-2t run (wrk, switchboard, Redis and the sink on $(nproc) cores): the figure is bounded by the cores, compare the CPU split."
  fi
}

scenario_slack_ingest() {
  bench_have_sb || return 0
  in_run slack
  table_note "slack_ingest rows: requests/s = signed Slack event_callback messages accepted/s (each a new event id; every non-200 answer fails the row); errors = socket errors + non-200 answers of the best run; CPU = % of one core over the best run (switchboard all threads, its Redis, the agent sink); queue side = what the same switchboard did meanwhile with the queued messages (conversation message + agent delivery each), its backlog dropped after the run."
  in_bound_notes slack
  in_targets slack 80000 80,000 47000
}
