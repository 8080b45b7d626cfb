# shellcheck shell=bash
# bench/scenarios/20-session-start.sh — anonymous widget session start:
# POST /api/widget/{widgetId}/session/start with body {}. Each request is one Lua script in
# Redis: widget lookup, origin check, exact rolling-window rate limit (60 per client IP in any
# 60 s) and the session write.
#
# switchboard with 1 and 2 threads, each with its own Redis, started with
# --trusted-proxies 127.0.0.1/32; bench/wrk/session_start.lua gives every request another
# X-Forwarded-For address of 10.0.0.0/8 (see its head), so the rate limit never refuses and is
# never what is measured, and counts the answers that are not 201: any of them fails the row.
# One tenant and one widget per server, made through the admin API. Runs are interleaved
# (sb-1t, sb-2t, ref-2w) and repeated BENCH_ROUNDS times like healthz; each row keeps its best
# run. ref-2w is the Fastify + ioredis reference the target was set against (bench/reference,
# its own Redis; left out without node or with BENCH_REFERENCE=0).
# The CPU of switchboard and of its Redis over each run goes into the note: Redis runs every
# script on one core, so it is the first suspect when the figure is low.
#
# The sessions (TTL 2 h) and rate-limit lists (TTL 60 s) the run writes stay in the instance's
# Redis, which is private to the run and thrown away with it; with BENCH_REDIS_URL they land
# in that Redis instead (a warning says so).

bench_scenario session_start "POST /api/widget/{id}/session/start (widget, origin, rate limit, session write in one Lua script): switchboard 1/2 threads"

SS_LUA=session_start.lua
declare -A SS_PATH=() SS_CPU=() SS_BAD=() SS_BAD_RUN=()

# ss_id RESPONSE — REPLY = the first "id" of a raw response's body (its last line), "" if none.
ss_id() { REPLY=$(tail -n 1 <<<"$1" | grep -o '"id":"[^"]*"' | head -n 1 | cut -d'"' -f4 || true); }

# ss_setup NAME — a tenant and an anonymous widget (any origin) on service NAME, then one
# session start by hand that must answer 201. SS_PATH[NAME] = the widget's session/start path.
ss_setup() {
  local name=$1 port=${SVC_PORT[$1]} resp tid wid out=$BENCH_TMP/session_start-setup-$1.txt
  local auth="Authorization: Bearer $BENCH_ADMIN_TOKEN"
  : >"$out"
  resp=$(http_request POST 127.0.0.1 "$port" /api/admin/tenants '{"name":"bench"}' "$auth") || true
  printf '%s\n' "$resp" >>"$out"
  ss_id "$resp"
  tid=$REPLY
  [[ $resp == "HTTP/1.1 201"* && -n $tid ]] || { show_log "$out"; die "$name: POST /api/admin/tenants failed"; }

  resp=$(http_request POST 127.0.0.1 "$port" "/api/admin/tenants/$tid/widgets" \
    '{"name":"w","greeting":"hi","allowedOrigins":[],"otpRequired":false}' "$auth") || true
  printf '%s\n' "$resp" >>"$out"
  ss_id "$resp"
  wid=$REPLY
  [[ $resp == "HTTP/1.1 201"* && -n $wid ]] || { show_log "$out"; die "$name: POST /api/admin/tenants/$tid/widgets failed"; }
  SS_PATH[$name]=/api/widget/$wid/session/start

  # 203.0.113.0/24 (TEST-NET-3): outside the 10/8 range wrk uses.
  resp=$(http_request POST 127.0.0.1 "$port" "${SS_PATH[$name]}" '{}' "X-Forwarded-For: 203.0.113.7") || true
  printf '%s\n' "$resp" >>"$out"
  [[ $resp == "HTTP/1.1 201"* ]] || { show_log "$out"; die "$name: POST ${SS_PATH[$name]} did not answer 201"; }
  log "$name: tenant $tid, widget $wid; session start answers 201"
}

# ss_ref_setup NAME — the reference (bench/reference: Fastify + ioredis, 2 workers) with its one
# widget, and one session start by hand that must answer 201.
ss_ref_setup() {
  local name=$1 resp
  ref_start "$name" 2 WIDGET_ID=bench
  SS_PATH[$name]=/api/widget/bench/session/start
  resp=$(http_request POST 127.0.0.1 "${SVC_PORT[$name]}" "${SS_PATH[$name]}" '{}' "X-Forwarded-For: 203.0.113.7") || true
  [[ $resp == "HTTP/1.1 201"* ]] || { printf '%s\n' "$resp" >&2; die "$name: POST ${SS_PATH[$name]} did not answer 201"; }
}

# ss_ticks PID — REPLY = utime + stime of PID (all threads), in clock ticks; 0 when gone. The
# fields are counted after the ")" that closes the command name.
ss_ticks() {
  REPLY=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || true)
  [[ -n $REPLY ]] || REPLY=0
}

# ss_machine — REPLY="busy total" jiffies of all CPUs so far (/proc/stat; idle = idle + iowait).
ss_machine() {
  REPLY=$(awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat 2>/dev/null || true)
  [[ -n $REPLY ]] || REPLY="0 0"
}

# ss_evalsha PORT — REPLY="calls usec" of EVALSHA so far in the Redis on PORT (INFO
# commandstats: the time spent running scripts, without reading requests and writing replies);
# "0 0" if unreadable.
ss_evalsha() {
  REPLY=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf 'INFO commandstats\r\nQUIT\r\n' >&3
    awk -F'[:=,]' '/^cmdstat_evalsha:/ { print $3, $5; exit }' <&3
  ) 2>/dev/null || true
  [[ -n $REPLY ]] || REPLY="0 0"
}

# ss_measure LABEL NAME ROUND — one measured wrk run (wrk_measure) plus, over that run, the CPU
# of the server (switchboard "sb", or the reference "ref": all its processes) and of its Redis
# (% of one core), the part of Redis's CPU spent inside the script (per session, and how many
# sessions a script run served: switchboard batches them), how busy the whole machine was (wrk
# included), and the non-201 count the Lua script printed.
ss_measure() {
  local label=$1 name=$2 r=$3 hz rpid=${SVC_PID[$2-redis]:-} rport=${SVC_PORT[$2-redis]:-}
  local sb0 rd0=0 sb1 rd1=0 m0 m1 e0="0 0" e1="0 0" t0 t1 bad detail cpu reqs
  hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  svc_ticks "$name"; sb0=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd0=$REPLY; ss_evalsha "$rport"; e0=$REPLY; fi
  ss_machine; m0=$REPLY
  t0=$EPOCHREALTIME
  wrk_measure "$label" "$name" "${SS_PATH[$name]}" "$r" "$SS_LUA"
  t1=$EPOCHREALTIME
  ss_machine; m1=$REPLY
  svc_ticks "$name"; sb1=$REPLY
  if [[ -n $rpid ]]; then ss_ticks "$rpid"; rd1=$REPLY; ss_evalsha "$rport"; e1=$REPLY; fi
  reqs=$(awk '/requests in/ { print $1; exit }' "$WRK_LAST_OUT")
  cpu=$(awk -v a="$sb0" -v b="$sb1" -v c="$rd0" -v d="$rd1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v rd="$rpid" \
    -v m="$m0 $m1" -v e="$e0 $e1" -v reqs="${reqs:-0}" -v who="${name%%-*}" 'BEGIN {
    w = t1 - t0; if (w <= 0) w = 1
    split(m, mm, " "); split(e, ee, " ")
    s = sprintf("CPU %s %.0f%%", who, 100 * (b - a) / hz / w)
    if (rd != "") {
      s = s sprintf(", redis %.0f%%", 100 * (d - c) / hz / w)
      n = ee[3] - ee[1]
      if (n > 0 && reqs > 0) s = s sprintf(" (in the script %.0f%%, %.1f us/session, %.1f sessions/run)", 100 * (ee[4] - ee[2]) / 1e6 / w, (ee[4] - ee[2]) / reqs, reqs / n)
    }
    if (mm[4] > mm[2]) s = s sprintf(", machine %.0f%% busy", 100 * (mm[3] - mm[1]) / (mm[4] - mm[2]))
    print s }')
  SS_CPU[$label/$r]=$cpu
  # "non-201 responses: N (status xcount, ...)" from bench/wrk/session_start.lua's done().
  detail=$(sed -n 's/^non-201 responses: //p' "$WRK_LAST_OUT")
  bad=${detail%% *}
  [[ $bad =~ ^[0-9]+$ ]] || { show_log "$WRK_LAST_OUT"; die "$label: no 'non-201 responses' line in the wrk output (bench/wrk/$SS_LUA)"; }
  SS_BAD_RUN[$label/$r]=$bad
  SS_BAD[$label]=$((${SS_BAD[$label]:-0} + bad))
  log "$label round $r: $cpu, non-201 answers $bad"
  ((bad == 0)) || warn "$label round $r: $bad answers were not 201 ($detail); the row fails"
}

scenario_session_start() {
  bench_have_sb || return 0
  local order=(sb-1t sb-2t) name r t label best rps p99 p99_1 st remark note sock bad rd_cpu
  [[ -n $BENCH_REDIS_URL ]] \
    && warn "BENCH_REDIS_URL is set: session_start writes one session (TTL 2 h) and one rate-limit list (TTL 60 s) per request, and a tenant per server, into that Redis"

  for t in 1 2; do
    sb_start "sb-${t}t" "$t" --trusted-proxies 127.0.0.1/32
    ss_setup "sb-${t}t"
  done
  if ref_ready; then
    ss_ref_setup ref-2w
    order+=(ref-2w)
  fi
  for name in "${order[@]}"; do wrk_warmup "$name" "${SS_PATH[$name]}" "$SS_LUA"; done
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for name in "${order[@]}"; do
      ss_measure "session_start $name" "$name" "$r"
    done
  done

  # Rows. errors = socket errors + non-201 answers of the best run; the note has the CPU split
  # of that run and the non-201 answers of every run.
  for name in "${order[@]}"; do
    label="session_start $name"
    [[ -n ${BEST_RPS[$label]:-} ]] || continue
    best=${BEST_ROUND[$label]}
    sock=$(awk '/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 } END { print n + 0 }' "${BEST_FILE[$label]}")
    bad=${SS_BAD_RUN[$label/$best]:-0}
    # shellcheck disable=SC2034,SC2004  # BEST_ERR: lib.sh's associative array, read by row_from_best
    BEST_ERR[$label]=$((sock + bad))
    note=${SS_CPU[$label/$best]}
    [[ $name == ref-* ]] && note="reference: Fastify + ioredis, node:cluster 2 workers, the same work in one Lua script (sorted-set window); $note"
    [[ ${SS_BAD[$label]:-0} == 0 ]] || note+="; FAILED: ${SS_BAD[$label]} non-201 answers over all runs"
    row_from_best "$label" "-" "$note"
  done
  table_note "session_start rows: requests/s = session starts/s (201 answers: every non-201 answer fails the row); errors = socket errors + non-201 answers of the best run; CPU = % of one core over the best run (switchboard all threads; its Redis runs every script on one core)."

  # What bounded the 2-thread figure, when it is plain: Redis (one core) or the whole machine.
  label="session_start sb-2t"
  note=${SS_CPU[$label/${BEST_ROUND[$label]:-0}]:-}
  # Redis's CPU share understates how busy it is when it shares the cores: the time inside the
  # script (INFO commandstats, wall clock) counts while it is preempted mid-script, too.
  rd_cpu=$(sed -n 's/.*redis \([0-9]*\)%.*/\1/p' <<<"$note")
  t=$(sed -n 's/.*in the script \([0-9]*\)%.*/\1/p' <<<"$note")
  if [[ -n $rd_cpu ]] && ((rd_cpu >= 85 || ${t:-0} >= 60)); then
    table_note "session_start: in the best sb-2t run Redis used ${rd_cpu}% of a core and was inside the session script ${t:-?}% of the time; it runs the scripts one at a time on one core, so it is the ceiling here, not switchboard."
  fi
  t=$(sed -n 's/.*machine \([0-9]*\)% busy.*/\1/p' <<<"$note")
  if [[ -n $t ]] && ((t >= 95)); then
    table_note "session_start: the machine was ${t}% busy in the best sb-2t run (wrk, switchboard and Redis on $(nproc) cores): the figure is bounded by the cores, compare the CPU split."
  fi

  # Targets: >= 45,000 session starts/s with 2 threads; p99 <= 5 ms at 64 connections (judged
  # on the same 2-thread server; the 1-thread p99 is shown beside it). Any non-201 answer fails both.
  rps=${BEST_RPS[$label]:-}
  [[ -n $rps ]] || return 0
  remark=""
  [[ ${SS_BAD[$label]:-0} == 0 ]] || remark=" (${SS_BAD[$label]} non-201 answers)"
  cmp_status "$rps" ">=" 45000
  st=$REPLY
  [[ -n $remark ]] && st=FAIL
  target_add "session start >= 45,000/s with 2 threads" "$(fmt_rps "$rps")/s$remark" "$st"

  # The same target against the reference on this machine: the issue puts a Fastify + ioredis
  # implementation at about 22,000/s "here", so 45,000/s asks for 45/22 of it.
  ratio_of "$label" "session_start ref-2w"
  local ratio=$REPLY
  if [[ -n $ratio ]]; then
    cmp_status "$ratio" ">=" 2.045
    st=$REPLY
    [[ -n $remark ]] && st=FAIL
    [[ ${SS_BAD[session_start ref-2w]:-0} == 0 ]] || st="n/a"
    target_add "session start >= 45/22 (2.05x) of the Fastify + ioredis reference on this machine (sb-2t / ref-2w)" \
      "${ratio}x ($(fmt_rps "$rps")/s vs $(fmt_rps "${BEST_RPS[session_start ref-2w]}")/s)" "$st"
  fi

  p99=${BEST_P99[$label]:-}
  p99_1=${BEST_P99[session_start sb-1t]:-}
  if [[ -n $p99 && $p99 != - ]]; then
    if [[ $BENCH_CONNECTIONS == 64 ]]; then
      cmp_status "$p99" "<=" 5000
      st=$REPLY
      [[ -n $remark ]] && st=FAIL
    else
      st="n/a"
    fi
    target_add "session start p99 <= 5 ms at 64 connections (sb-2t)" \
      "$(fmt_us "$p99") (c=$BENCH_CONNECTIONS)$remark; sb-1t $(fmt_us "${p99_1:--}")" "$st"
  fi
}
