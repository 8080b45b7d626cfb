# shellcheck shell=bash disable=SC2034  # globals here are used by run.sh and the scenarios
# bench/lib.sh — shared helpers of the switchboard benchmark suite.
#
# Sourced by bench/run.sh (never executed). Scenario files in bench/scenarios/ use it to start
# and stop redis-server, nginx and switchboard on free loopback ports, to run wrk, to keep the
# best run of each row and to record targets; bench/run.sh prints the table at the end.
#
# Conventions
#   * Functions that produce one value put it in REPLY (no subshells: they must keep state).
#   * Every process started here is registered (svc_*), stopped by the scenario that started it
#     (svc_stop_all) and, in any case, by the EXIT trap of run.sh (bench_cleanup).
#   * Nothing here writes outside $BENCH_TMP and build-release/.

# ---------------------------------------------------------------------------------------------
# Settings (environment)
# ---------------------------------------------------------------------------------------------
: "${BENCH_DURATION:=10s}"        # wrk -d of one measured run
: "${BENCH_CONNECTIONS:=64}"      # wrk -c
: "${BENCH_WRK_THREADS:=2}"       # wrk -t (capped at BENCH_CONNECTIONS)
: "${BENCH_ROUNDS:=2}"            # interleaved rounds; the best requests/s of each row is kept
: "${BENCH_WARMUP:=2s}"           # one unmeasured wrk run per server before round 1 ("0" = none)
: "${BENCH_IDLE_CONNS:=10000}"    # idle keep-alive connections of the idle_conns scenario
: "${BENCH_IDLE_HOLD:=5}"         # seconds idle_conns holds them once all are established
: "${BENCH_IDLE_SETTLE:=2}"       # seconds after "established" before RSS is read
: "${BENCH_FANOUT_EVENTS:=100000}" # fanout: events of the burst and drain measurements
: "${BENCH_FANOUT_RATE:=5000}"    # fanout: events/s of the fixed-rate measurement (latency)
: "${BENCH_FANOUT_SECONDS:=10}"   # fanout: seconds of the fixed-rate measurement
: "${BENCH_FANOUT_CONNS:=32}"     # fanout: generator connections to switchboard
: "${BENCH_FANOUT_WARMUP:=2000}"  # fanout: unmeasured events first (pools, scripts)
: "${BENCH_FANOUT_WAIT:=30}"      # fanout: seconds after the last 202 to wait for deliveries
: "${BENCH_FANOUT_THREADS:=2}"    # fanout: switchboard --threads
: "${BENCH_START_TIMEOUT:=15}"    # seconds a server gets to answer its first request
: "${BENCH_NOFILE:=65536}"        # fd limit wanted for servers and clients (ulimit -n)
: "${BENCH_NGINX_ONLY:=0}"        # 1: no build, no switchboard rows (nginx half only)
: "${BENCH_SKIP_BUILD:=0}"        # 1: use the existing binary as is
: "${BENCH_STRICT:=0}"            # 1: exit 3 when a target is missed
: "${BENCH_KEEP_TMP:=0}"          # 1: keep the temp dir (configs, logs, raw wrk output)
: "${BENCH_SB_ARGS:=}"            # extra switchboard flags (word-split)
: "${BENCH_REDIS_URL:=}"          # use this Redis instead of starting one per instance
: "${BENCH_PIN:=0}"               # 1: 1-thread/1-worker servers on CPU 0, wrk against them on the others
: "${BENCH_REFERENCE:=1}"         # 1: ref rows (bench/reference: Fastify + ioredis) where node and npm allow

WRK_BIN=${WRK_BIN:-wrk}
REDIS_BIN=${REDIS_BIN:-redis-server}
NGINX_BIN=${NGINX_BIN:-}
if [[ -z $NGINX_BIN ]]; then
  if [[ -x /usr/sbin/nginx ]]; then NGINX_BIN=/usr/sbin/nginx; else NGINX_BIN=$(command -v nginx || true); fi
fi
SB_BIN=${SB_BIN:-$REPO_ROOT/build-release/switchboard}
CC_BIN=${CC:-cc}

BENCH_TMP=""
BENCH_T0=$SECONDS
BENCH_LOAD0=""
BENCH_FAILED=0

# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------
log()  { printf '[bench %4ds] %s\n' "$((SECONDS - BENCH_T0))" "$*" >&2; }
warn() { printf '[bench %4ds] WARNING: %s\n' "$((SECONDS - BENCH_T0))" "$*" >&2; }
die()  {
  printf '[bench %4ds] ERROR: %s\n' "$((SECONDS - BENCH_T0))" "$*" >&2
  BENCH_FAILED=1
  exit 1
}

# Print the last lines of a log file to stderr (used when something failed), once per file.
declare -A BENCH_SHOWN=()
show_log() {
  local f=$1 n=${2:-25}
  [[ -s $f && -z ${BENCH_SHOWN[$f]:-} ]] || return 0
  BENCH_SHOWN[$f]=1
  printf -- '----- last %d lines of %s -----\n' "$n" "${f#"$BENCH_TMP"/}" >&2
  tail -n "$n" "$f" >&2
  printf -- '-----\n' >&2
}

need_cmd() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "'$c' not found (Debian packages: scripts/setup.sh installs them)"
  done
}

# ---------------------------------------------------------------------------------------------
# Temp dir, fd limit, cleanup
# ---------------------------------------------------------------------------------------------
bench_tmp_init() {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench.XXXXXX")
}

# Raise the soft fd limit of this shell (inherited by every server and client started later).
# Without CAP_SYS_RESOURCE the hard limit is the ceiling; we take what we can get.
bench_raise_nofile() {
  local hard
  if ! ulimit -n "$BENCH_NOFILE" 2>/dev/null; then
    hard=$(ulimit -Hn)
    if [[ $hard == unlimited ]]; then hard=$BENCH_NOFILE; fi
    ulimit -n "$hard" 2>/dev/null || true
    warn "could not raise the fd limit to $BENCH_NOFILE (hard limit $(ulimit -Hn)); using $(ulimit -n)"
  fi
}

# The 1-minute load average before anything starts: other jobs on the machine make the figures
# noisy, and the table says so.
bench_check_load() {
  BENCH_LOAD0=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || true)
  if [[ -n $BENCH_LOAD0 ]] && awk -v l="$BENCH_LOAD0" 'BEGIN { exit !(l > 0.5) }'; then
    warn "load average is $BENCH_LOAD0 before the bench starts: other jobs are running, figures will be noisy"
  fi
}

# ---------------------------------------------------------------------------------------------
# Process registry
# ---------------------------------------------------------------------------------------------
declare -A SVC_PID=() SVC_PORT=() SVC_KIND=() SVC_LOG=() SVC_DIR=() SVC_PINNED=()
SVC_ORDER=()

# svc_spawn NAME KIND LOGFILE CMD...   (runs CMD in the background, registers it)
svc_spawn() {
  local name=$1 kind=$2 logf=$3
  shift 3
  "$@" >"$logf" 2>&1 </dev/null &
  SVC_PID[$name]=$!
  SVC_KIND[$name]=$kind
  SVC_LOG[$name]=$logf
  SVC_ORDER+=("$name")
}

svc_alive() { local p=${SVC_PID[$1]:-}; [[ -n $p ]] && kill -0 "$p" 2>/dev/null; }

# svc_stop NAME — SIGTERM, wait up to 15 s (switchboard's shutdown bound is 10 s), then SIGKILL.
svc_stop() {
  local name=$1 pid=${SVC_PID[$1]:-} i
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      warn "$name (pid $pid) ignored SIGTERM for 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  unset 'SVC_PID[$name]'
}

# Stop every registered process, newest first (switchboard before its Redis).
svc_stop_all() {
  local i name
  for ((i = ${#SVC_ORDER[@]} - 1; i >= 0; i--)); do
    name=${SVC_ORDER[i]}
    [[ -n ${SVC_PID[$name]:-} ]] && svc_stop "$name"
  done
  SVC_ORDER=()
}

# run_child OUTFILE CMD... — run a client (wrk, ...) to completion with its output in OUTFILE.
# It runs in the background and is waited for, so that SIGTERM/SIGINT reach the traps at once
# (bash defers traps while a foreground command runs) and bench_cleanup can stop it.
BENCH_CHILD=""
run_child() {
  local out=$1 rc=0
  shift
  "$@" >"$out" 2>&1 </dev/null &
  BENCH_CHILD=$!
  wait "$BENCH_CHILD" || rc=$?
  BENCH_CHILD=""
  return "$rc"
}

# EXIT trap of run.sh.
bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -n $BENCH_CHILD ]]; then
    kill -TERM "$BENCH_CHILD" 2>/dev/null
    wait "$BENCH_CHILD" 2>/dev/null
  fi
  if ((rc != 0)) || ((BENCH_FAILED)); then
    local name
    for name in "${SVC_ORDER[@]}"; do
      if [[ -n ${SVC_PID[$name]:-} ]] && ! svc_alive "$name"; then
        warn "$name exited early"
        show_log "${SVC_LOG[$name]}"
      fi
    done
  fi
  svc_stop_all
  if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
    if [[ $BENCH_KEEP_TMP == 1 ]]; then
      log "kept $BENCH_TMP"
    else
      rm -rf -- "$BENCH_TMP"
    fi
  fi
  exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Ports and HTTP probes
# ---------------------------------------------------------------------------------------------
declare -A BENCH_USED_PORTS=()

port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# free_port — a free loopback port below the ephemeral range (so that the client side of
# 10,000 connections never collides with a listener). REPLY=port.
free_port() {
  local lo hi base span p tries
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range || { lo=32768; hi=60999; }
  if ((lo > 11024)); then base=$((lo - 10000)); span=10000; else base=$((hi + 1)); span=$((65535 - hi)); fi
  for ((tries = 0; tries < 500; tries++)); do
    p=$((base + (RANDOM * 32768 + RANDOM) % span))
    [[ -n ${BENCH_USED_PORTS[$p]:-} ]] && continue
    if ! port_in_use "$p"; then
      BENCH_USED_PORTS[$p]=1
      REPLY=$p
      return 0
    fi
  done
  die "no free port found"
}

# http_status HOST PORT PATH — REPLY=status code ("" when nothing answered).
http_status() {
  REPLY=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/$1/$2" || exit 0
    printf 'GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' "$3" >&3
    IFS=' ' read -r -t 2 proto code rest <&3 && printf '%s' "$code"
  ) 2>/dev/null || REPLY=""
}

# http_get HOST PORT PATH — prints the raw response (headers and body) on stdout.
http_get() {
  (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf 'GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' "$3" >&3
    while IFS= read -r -t 3 line <&3 || [[ -n $line ]]; do printf '%s\n' "${line%$'\r'}"; line=""; done
  ) 2>/dev/null
}

# http_request METHOD HOST PORT PATH BODY [HEADER...] — one request with a JSON body (may be
# empty) and the given "Name: value" headers; prints the raw response (headers and body).
http_request() {
  local method=$1 host=$2 port=$3 path=$4 body=$5
  shift 5
  (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/$host/$port" || exit 1
    {
      printf '%s %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n' "$method" "$path"
      printf 'Content-Type: application/json\r\nContent-Length: %d\r\n' "${#body}"
      local h
      for h in "$@"; do printf '%s\r\n' "$h"; done
      printf '\r\n%s' "$body"
    } >&3
    while IFS= read -r -t 3 line <&3 || [[ -n $line ]]; do printf '%s\n' "${line%$'\r'}"; line=""; done
  ) 2>/dev/null
}

# wait_http NAME PATH [WANT] — poll until the service answers WANT (default 200). Dies when the
# process exits or BENCH_START_TIMEOUT passes.
wait_http() {
  local name=$1 path=$2 want=${3:-200} port=${SVC_PORT[$1]} deadline
  deadline=$((SECONDS + BENCH_START_TIMEOUT))
  while :; do
    svc_alive "$name" || { show_log "${SVC_LOG[$name]}"; die "$name exited during start-up"; }
    http_status 127.0.0.1 "$port" "$path"
    [[ $REPLY == "$want" ]] && return 0
    ((SECONDS < deadline)) || { show_log "${SVC_LOG[$name]}"; die "$name did not answer $path with $want within ${BENCH_START_TIMEOUT}s (last: '${REPLY}')"; }
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# /proc readers
# ---------------------------------------------------------------------------------------------
# proc_kb PID FIELD — REPLY=value in kB of FIELD (VmRSS, VmHWM, ...) of /proc/PID/status, 0 if gone.
proc_kb() {
  REPLY=$(awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status" 2>/dev/null || true)
  [[ -n $REPLY ]] || REPLY=0
}

# child_pids PID — REPLY=space-separated list of direct children.
child_pids() {
  local p ppid
  REPLY=""
  for p in /proc/[0-9]*; do
    ppid=$(awk '$1 == "PPid:" { print $2; exit }' "$p/status" 2>/dev/null || true)
    [[ $ppid == "$1" ]] && REPLY+="${p#/proc/} "
  done
  REPLY=${REPLY% }
}

# svc_mem_kb NAME FIELD — REPLY=FIELD of the service; for nginx and node the sum over master and
# workers.
svc_mem_kb() {
  local name=$1 field=$2 pid=${SVC_PID[$1]} total c kids
  proc_kb "$pid" "$field"
  total=$REPLY
  if [[ ${SVC_KIND[$name]} == nginx || ${SVC_KIND[$name]} == node ]]; then
    child_pids "$pid"
    kids=$REPLY
    for c in $kids; do proc_kb "$c" "$field"; total=$((total + REPLY)); done
  fi
  REPLY=$total
}

# svc_ticks NAME — REPLY = utime + stime (clock ticks) of the service's process and of its child
# processes (nginx and node workers), 0 when gone. Fields counted after the ")" of the name.
svc_ticks() {
  local pid=${SVC_PID[$1]:-} p t=0 v
  REPLY=0
  [[ -n $pid ]] || return 0
  child_pids "$pid"
  for p in $pid $REPLY; do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true)
    t=$((t + ${v:-0}))
  done
  REPLY=$t
}

kb_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# ---------------------------------------------------------------------------------------------
# CPU pinning (BENCH_PIN=1, off by default)
# ---------------------------------------------------------------------------------------------
# With BENCH_PIN=1 on a machine of 2+ cores, a server with ONE thread/worker is started on CPU 0
# and every wrk run against it on CPUs 1..N-1, so that client and server never preempt each
# other. Servers with more threads than that stay unpinned (there is no core to spare on 2 cores).
pin_wanted() { [[ $BENCH_PIN == 1 ]] && (($1 == 1)) && (($(nproc) >= 2)) && command -v taskset >/dev/null 2>&1; }

# PIN_SERVER prefixes a pinned server's command; pin_client_cmd NAME sets PIN_CLIENT, the prefix
# of a client command aimed at NAME (empty when NAME is not pinned).
PIN_SERVER=(taskset -c 0)
PIN_CLIENT=()
pin_client_cpus() { local n; n=$(nproc); if ((n > 2)); then REPLY="1-$((n - 1))"; else REPLY=1; fi; }
pin_client_cmd() {
  PIN_CLIENT=()
  if [[ -n ${SVC_PINNED[$1]:-} ]]; then pin_client_cpus; PIN_CLIENT=(taskset -c "$REPLY"); fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------
bench_have_sb() { [[ $BENCH_NGINX_ONLY != 1 ]]; }

# redis_start NAME — a throw-away redis-server on a free loopback port, no persistence.
# REPLY=port.
redis_start() {
  local name=$1 dir port deadline pong
  dir=$BENCH_TMP/$name
  mkdir -p "$dir"
  free_port
  port=$REPLY
  SVC_PORT[$name]=$port
  SVC_DIR[$name]=$dir
  svc_spawn "$name" redis "$dir/redis.log" \
    "$REDIS_BIN" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --daemonize no --dir "$dir" --logfile ""
  deadline=$((SECONDS + BENCH_START_TIMEOUT))
  while :; do
    svc_alive "$name" || { show_log "$dir/redis.log"; die "$name (redis-server) exited during start-up"; }
    pong=$(
      exec 2>/dev/null
      exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
      printf 'PING\r\n' >&3
      IFS= read -r -t 1 line <&3 && printf '%s' "${line%$'\r'}"
    ) 2>/dev/null || pong=""
    [[ $pong == "+PONG" ]] && break
    ((SECONDS < deadline)) || { show_log "$dir/redis.log"; die "$name (redis-server) did not answer PING"; }
    sleep 0.1
  done
  REPLY=$port
}

# svc_place NAME [REDIS_URL] — a temp dir (SVC_DIR) and a free port (SVC_PORT) for service NAME,
# and its Redis: REDIS_URL, or without one a redis-server of its own (NAME-redis).
# REPLY="port url".
svc_place() {
  local name=$1 url=${2:-}
  SVC_DIR[$name]=$BENCH_TMP/$name
  mkdir -p "${SVC_DIR[$name]}"
  if [[ -z $url ]]; then
    redis_start "$name-redis"
    url="redis://127.0.0.1:$REPLY"
  fi
  free_port
  SVC_PORT[$name]=$REPLY
  REPLY="$REPLY $url"
}

# sb_start NAME THREADS [EXTRA FLAGS...] — switchboard with its own Redis (or BENCH_REDIS_URL),
# request logs off (--log-level warn). REPLY=port.
sb_start() {
  local name=$1 threads=$2 dir url port pin=()
  shift 2
  [[ -x $SB_BIN ]] || die "switchboard binary not found: ${SB_BIN#"$REPO_ROOT"/}"
  svc_place "$name" "$BENCH_REDIS_URL"
  read -r port url <<<"$REPLY"
  dir=${SVC_DIR[$name]}
  mkdir -p "$dir/data"
  if pin_wanted "$threads"; then pin=("${PIN_SERVER[@]}"); SVC_PINNED[$name]=1; fi
  # shellcheck disable=SC2086  # BENCH_SB_ARGS is a list of flags on purpose
  svc_spawn "$name" switchboard "$dir/switchboard.log" \
    "${pin[@]}" env SWITCHBOARD_ADMIN_TOKEN="$BENCH_ADMIN_TOKEN" \
    "$SB_BIN" --listen "127.0.0.1:$port" --redis "$url" --threads "$threads" \
    --log-level warn --data-dir "$dir/data" $BENCH_SB_ARGS "$@"
  wait_http "$name" /healthz
  # /readyz proves the Redis URL works; the /healthz scenario does not need it, later ones do.
  local deadline=$((SECONDS + BENCH_START_TIMEOUT))
  while :; do
    http_status 127.0.0.1 "$port" /readyz
    case $REPLY in
      200) break ;;
      404) warn "$name has no /readyz yet; continuing"; break ;;
    esac
    svc_alive "$name" || { show_log "$dir/switchboard.log"; die "$name exited during start-up"; }
    ((SECONDS < deadline)) || { warn "$name: /readyz answered '${REPLY}' for ${BENCH_START_TIMEOUT}s (Redis?)"; break; }
    sleep 0.1
  done
  log "$name: switchboard --threads $threads on 127.0.0.1:$port (pid ${SVC_PID[$name]}, redis $url)${pin:+, pinned to CPU 0}"
  REPLY=$port
}

# ref_ready — 0 when the reference (bench/reference: Fastify + ioredis under node:cluster) can
# run: BENCH_REFERENCE=1, node present and its modules installed (npm ci from the lock file on
# first use, into bench/reference/node_modules). Otherwise 1, with a warning once.
REF_STATE=""
ref_ready() {
  if [[ -z $REF_STATE ]]; then
    REF_STATE=no
    local dir=$REPO_ROOT/bench/reference
    if [[ $BENCH_REFERENCE != 1 ]]; then
      :
    elif ! command -v node >/dev/null 2>&1; then
      warn "no node: the reference rows (Fastify + ioredis) are skipped"
    elif [[ -d $dir/node_modules/fastify && -d $dir/node_modules/ioredis ]]; then
      REF_STATE=yes
    elif ! command -v npm >/dev/null 2>&1; then
      warn "no npm to install bench/reference's modules: the reference rows are skipped"
    else
      log "npm ci in bench/reference (Fastify + ioredis, versions from package-lock.json)"
      if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$BENCH_TMP/npm-ci.log" 2>&1; then
        REF_STATE=yes
      else
        show_log "$BENCH_TMP/npm-ci.log"
        warn "npm ci failed: the reference rows are skipped"
      fi
    fi
  fi
  [[ $REF_STATE == yes ]]
}

# ref_start NAME WORKERS [VAR=VALUE...] — the reference server with WORKERS cluster workers and
# its own Redis, the VARs in its environment (bench/reference/server.js lists them). REPLY=port.
ref_start() {
  local name=$1 workers=$2 dir port url
  shift 2
  svc_place "$name" "" # its own Redis always: its keys would mix with switchboard's
  read -r port url <<<"$REPLY"
  dir=${SVC_DIR[$name]}
  svc_spawn "$name" node "$dir/node.log" env PORT="$port" REDIS_URL="$url" WORKERS="$workers" \
    TRUSTED_PROXY=127.0.0.1 "$@" node "$REPO_ROOT/bench/reference/server.js"
  wait_http "$name" /healthz
  log "$name: Fastify + ioredis reference, $workers workers on 127.0.0.1:$port (pid ${SVC_PID[$name]}, redis $url)"
  REPLY=$port
}

# nginx_start NAME WORKERS — Debian's nginx as a non-root-friendly foreground master with a
# generated config: fixed JSON on /healthz, access_log off. REPLY=port.
nginx_start() {
  local name=$1 workers=$2 dir port conf nv t temps="" pin=()
  [[ -n $NGINX_BIN && -x $NGINX_BIN ]] || die "nginx not found (Debian package nginx-light)"
  dir=$BENCH_TMP/$name
  mkdir -p "$dir/tmp"
  free_port
  port=$REPLY
  SVC_PORT[$name]=$port
  SVC_DIR[$name]=$dir
  conf=$dir/nginx.conf
  # Every compiled-in module with a temp path must get one inside $dir, or nginx tries
  # /var/lib/nginx at start-up (fatal for non-root users).
  nv=$("$NGINX_BIN" -V 2>&1)
  for t in proxy fastcgi uwsgi scgi; do
    [[ $nv == *"--without-http_${t}_module"* ]] && continue
    temps+="    ${t}_temp_path $dir/tmp/$t;"$'\n'
  done
  cat >"$conf" <<EOF
# generated by bench/lib.sh — switchboard bench HTTP ceiling
daemon off;
master_process on;
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections 20000;
}

http {
    access_log off;
    server_tokens off;
    client_body_temp_path $dir/tmp/body;
$temps
    keepalive_requests 1000000;
    keepalive_timeout 60s;

    server {
        listen 127.0.0.1:$port reuseport;
        location = /healthz {
            default_type application/json;
            return 200 '{"status":"ok"}';
        }
        # the ingest scenarios' ceiling rows: the same signed requests, answered unread
        location /api/webhooks/ {
            default_type application/json;
            return 200 '{"ok":true}';
        }
    }
}
EOF
  if ! "$NGINX_BIN" -t -q -p "$dir/" -e "$dir/error.log" -c "$conf" >"$dir/nginx-t.log" 2>&1; then
    show_log "$dir/nginx-t.log"
    die "$name: nginx -t rejected the generated config"
  fi
  if pin_wanted "$workers"; then pin=("${PIN_SERVER[@]}"); SVC_PINNED[$name]=1; fi
  svc_spawn "$name" nginx "$dir/stderr.log" "${pin[@]}" "$NGINX_BIN" -p "$dir/" -e "$dir/error.log" -c "$conf"
  SVC_LOG[$name]=$dir/error.log
  wait_http "$name" /healthz
  log "$name: nginx worker_processes $workers on 127.0.0.1:$port (master pid ${SVC_PID[$name]})${pin:+, pinned to CPU 0}"
  REPLY=$port
}

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
# Release build into build-release/ at the repo root; only the server target is built (a broken
# unit test must not stop the bench).
bench_build() {
  if [[ $BENCH_SKIP_BUILD == 1 ]]; then
    [[ -x $SB_BIN ]] || die "BENCH_SKIP_BUILD=1 but ${SB_BIN#"$REPO_ROOT"/} does not exist"
    return 0
  fi
  [[ -f $REPO_ROOT/meson.build ]] || die "no meson.build at the repo root yet (BENCH_NGINX_ONLY=1 runs the nginx half)"
  need_cmd meson ninja
  local bd=$REPO_ROOT/build-release opts
  if [[ ! -f $bd/build.ninja ]]; then
    log "meson setup build-release --buildtype=release -Db_ndebug=true"
    (cd "$REPO_ROOT" && meson setup build-release --buildtype=release -Db_ndebug=true) >&2 \
      || die "meson setup failed"
  else
    opts=$(meson introspect --buildoptions "$bd" 2>/dev/null || true)
    if [[ $opts != *'"name": "buildtype", "value": "release"'* || $opts != *'"name": "b_ndebug", "value": "true"'* ]]; then
      log "build-release/ is not a release build; reconfiguring"
      meson configure "$bd" -Dbuildtype=release -Db_ndebug=true >&2 || die "meson configure failed"
    fi
  fi
  log "ninja -C build-release switchboard"
  ninja -C "$bd" switchboard >&2 || die "release build failed"
  [[ -x $SB_BIN ]] || die "build finished but ${SB_BIN#"$REPO_ROOT"/} is missing"
}

# ---------------------------------------------------------------------------------------------
# wrk
# ---------------------------------------------------------------------------------------------
# Best run per row label.
declare -A BEST_RPS=() BEST_P50=() BEST_P99=() BEST_RSS=() BEST_ERR=() BEST_ROUND=() BEST_FILE=() BEST_PINNED=()

# Latency as wrk prints it ("312.45us", "1.20ms", "2.00s", "1.00m") -> microseconds.
wrk_to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : (u == "h") ? 3600000000 : -1
    if (m < 0) { print ""; exit }
    printf "%.0f", n * m }'
}

# wrk_parse FILE — REPLY="rps p50_us p99_us errors requests".
wrk_parse() {
  local rps p50 p99 errs reqs
  read -r rps p50 p99 errs reqs < <(awk '
    /^Requests\/sec:/                    { rps = $2 }
    /^[ \t]+50%/                         { p50 = $2 }
    /^[ \t]+99%/                         { p99 = $2 }
    /requests in/                        { reqs = $1 }
    /Non-2xx or 3xx responses:/          { err += $NF }
    /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i + 0 }
    END { printf "%s %s %s %d %s\n", (rps == "" ? "-" : rps), (p50 == "" ? "-" : p50), (p99 == "" ? "-" : p99), err, (reqs == "" ? "-" : reqs) }
  ' "$1")
  [[ $rps == - ]] && { REPLY=""; return 1; }
  p50=$(wrk_to_us "$p50")
  p99=$(wrk_to_us "$p99")
  REPLY="$rps ${p50:--} ${p99:--} $errs $reqs"
}

# wrk_cmd_args — the common wrk flags (threads capped at connections).
wrk_threads() {
  local t=$BENCH_WRK_THREADS
  ((t > BENCH_CONNECTIONS)) && t=$BENCH_CONNECTIONS
  REPLY=$t
}

# wrk_warmup NAME PATH [LUA] — unmeasured run (BENCH_WARMUP long).
wrk_warmup() {
  local name=$1 path=$2 lua=${3:-} args=()
  [[ $BENCH_WARMUP == 0 || $BENCH_WARMUP == 0s ]] && return 0
  wrk_threads
  args=(-t"$REPLY" -c"$BENCH_CONNECTIONS" -d"$BENCH_WARMUP")
  [[ -n $lua ]] && args+=(-s "$BENCH_DIR/wrk/$lua")
  pin_client_cmd "$name"
  run_child "$BENCH_TMP/warmup-$name.txt" "${PIN_CLIENT[@]}" "$WRK_BIN" "${args[@]}" "http://127.0.0.1:${SVC_PORT[$name]}$path" \
    || { show_log "$BENCH_TMP/warmup-$name.txt"; die "wrk warm-up against $name failed"; }
  svc_alive "$name" || { show_log "${SVC_LOG[$name]}"; die "$name died during warm-up"; }
}

# wrk_measure LABEL NAME PATH ROUND [LUA] — one measured run against service NAME; keeps it as
# the row LABEL's result if its requests/s beat the previous best. WRK_LAST_OUT is the raw wrk
# output of this run (for scenarios whose Lua script prints more than wrk's summary).
WRK_LAST_OUT=""
wrk_measure() {
  local label=$1 name=$2 path=$3 round=$4 lua=${5:-} out args=() rps p50 p99 errs reqs
  out=$BENCH_TMP/wrk-${label//[^A-Za-z0-9_.-]/_}-r$round.txt
  WRK_LAST_OUT=$out
  wrk_threads
  args=(-t"$REPLY" -c"$BENCH_CONNECTIONS" -d"$BENCH_DURATION" --latency)
  [[ -n $lua ]] && args+=(-s "$BENCH_DIR/wrk/$lua")
  pin_client_cmd "$name"
  run_child "$out" "${PIN_CLIENT[@]}" "$WRK_BIN" "${args[@]}" "http://127.0.0.1:${SVC_PORT[$name]}$path" \
    || { show_log "$out"; die "wrk against $name failed"; }
  svc_alive "$name" || { show_log "${SVC_LOG[$name]}"; die "$name died under load"; }
  wrk_parse "$out" || { show_log "$out"; die "could not parse wrk output of $label"; }
  read -r rps p50 p99 errs reqs <<<"$REPLY"
  svc_mem_kb "$name" VmHWM
  log "$label round $round: $rps req/s, p50 $(fmt_us "$p50"), p99 $(fmt_us "$p99"), errors $errs"
  if [[ -z ${BEST_RPS[$label]:-} ]] || awk -v a="$rps" -v b="${BEST_RPS[$label]}" 'BEGIN { exit !(a > b) }'; then
    BEST_RPS[$label]=$rps
    BEST_P50[$label]=$p50
    BEST_P99[$label]=$p99
    BEST_ERR[$label]=$errs
    BEST_RSS[$label]=$REPLY
    BEST_ROUND[$label]=$round
    BEST_FILE[$label]=$out
    BEST_PINNED[$label]=${SVC_PINNED[$name]:-}
  fi
}

# ---------------------------------------------------------------------------------------------
# Results and targets
# ---------------------------------------------------------------------------------------------
# Rows of the final table, in order. Columns are "-" when they do not apply.
ROW_LABEL=() ROW_RPS=() ROW_P50=() ROW_P99=() ROW_RSS=() ROW_RATIO=() ROW_ERR=() ROW_RUN=() ROW_NOTE=()
TGT_DESC=() TGT_VALUE=() TGT_STATUS=()
TABLE_NOTES=()

fmt_us() {
  awk -v u="$1" 'BEGIN {
    if (u == "-" || u == "") { print "-"; exit }
    if (u < 1000) printf "%.3f ms", u / 1000; else if (u < 100000) printf "%.2f ms", u / 1000; else printf "%.0f ms", u / 1000 }'
}

fmt_rps() { awk -v r="$1" 'BEGIN { if (r == "-" || r == "") print "-"; else printf "%.0f", r }'; }

# row_add LABEL RPS P50_US P99_US RSS_KB RATIO ERRORS RUN NOTE
row_add() {
  ROW_LABEL+=("$1"); ROW_RPS+=("$2"); ROW_P50+=("$3"); ROW_P99+=("$4"); ROW_RSS+=("$5")
  ROW_RATIO+=("$6"); ROW_ERR+=("$7"); ROW_RUN+=("$8"); ROW_NOTE+=("$9")
}

# row_from_best LABEL [RATIO] [NOTE] — add the best wrk run of LABEL as a row.
row_from_best() {
  local l=$1 note=${3:-}
  [[ -n ${BEST_RPS[$l]:-} ]] || return 0
  if [[ -n ${BEST_PINNED[$l]:-} ]]; then pin_client_cpus; note="${note:+$note, }pinned: server CPU 0, wrk CPU $REPLY"; fi
  row_add "$l" "${BEST_RPS[$l]}" "${BEST_P50[$l]}" "${BEST_P99[$l]}" "${BEST_RSS[$l]}" \
    "${2:--}" "${BEST_ERR[$l]}" "round ${BEST_ROUND[$l]}/$BENCH_ROUNDS" "$note"
}

# ratio_of LABEL_A LABEL_B — REPLY="1.005" (requests/s of A over B, three decimals so that a
# PASS at 1.0 is not an artefact of rounding), "" if either is missing.
ratio_of() {
  REPLY=""
  [[ -n ${BEST_RPS[$1]:-} && -n ${BEST_RPS[$2]:-} ]] || return 0
  REPLY=$(awk -v a="${BEST_RPS[$1]}" -v b="${BEST_RPS[$2]}" 'BEGIN { if (b > 0) printf "%.3f", a / b }')
}

# table_note TEXT — a line printed under the table (what a scenario's columns mean).
table_note() { TABLE_NOTES+=("$1"); }

# target_add DESCRIPTION MEASURED STATUS   (STATUS: PASS, FAIL or n/a; MEASURED may carry a remark)
target_add() { TGT_DESC+=("$1"); TGT_VALUE+=("$2"); TGT_STATUS+=("$3"); }

# cmp_status VALUE OP LIMIT — REPLY=PASS or FAIL (awk numeric comparison, OP one of < <= >= >).
cmp_status() {
  if awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
      ok = (op == "<") ? v < l : (op == "<=") ? v <= l : (op == ">=") ? v >= l : v > l
      exit !ok }'; then REPLY=PASS; else REPLY=FAIL; fi
}

# p99_status P99_US BAD — REPLY = the "p99 <= 5 ms at 64 connections" verdict: PASS or FAIL
# (FAIL too when BAD, the row's non-200 count, is not 0), n/a at another BENCH_CONNECTIONS.
p99_status() {
  if [[ $BENCH_CONNECTIONS != 64 ]]; then
    REPLY="n/a"
    return
  fi
  cmp_status "$1" "<=" 5000
  [[ ${2:-0} == 0 ]] || REPLY=FAIL
}

bench_env_line() {
  local cpu kern sbv="" commit
  cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  kern=$(uname -r)
  if bench_have_sb && [[ -x $SB_BIN ]]; then
    sbv=$("$SB_BIN" --version 2>/dev/null | head -n 1 || true)
  fi
  commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  if [[ -n $(git -C "$REPO_ROOT" status --porcelain -- src include meson.build 2>/dev/null) ]]; then commit+="+dirty"; fi
  printf '%s; %s cores (%s); load %s at start; Linux %s; %s; %s; %s; git %s\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" "${cpu:-cpu?}" "${BENCH_LOAD0:-?}" "$kern" \
    "${sbv:-switchboard -}" "$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')" \
    "$("$WRK_BIN" -v 2>&1 | head -n 1 | awk '{ print $1 " " $2 }')" "$commit"
}

# bench_report — the one table (aligned text), the targets, then both again as Markdown.
bench_report() {
  local i n=${#ROW_LABEL[@]} hdr rows=() cols w=() c line sep md settings
  settings="wrk -t$BENCH_WRK_THREADS -c$BENCH_CONNECTIONS -d$BENCH_DURATION --latency, best of $BENCH_ROUNDS interleaved rounds"
  [[ $BENCH_PIN == 1 ]] && settings+=", BENCH_PIN=1 (1-thread/1-worker servers on CPU 0, their wrk on the other CPUs)"
  hdr=("scenario" "requests/s" "p50" "p99" "RSS MiB" "vs nginx" "errors" "best run" "note")
  for ((i = 0; i < n; i++)); do
    local rss="-" ratio="-"
    [[ ${ROW_RSS[i]} != - && -n ${ROW_RSS[i]} ]] && rss=$(kb_to_mib "${ROW_RSS[i]}")
    [[ ${ROW_RATIO[i]} != - && -n ${ROW_RATIO[i]} ]] && ratio="${ROW_RATIO[i]}x"
    rows+=("${ROW_LABEL[i]}"$'\t'"$(fmt_rps "${ROW_RPS[i]}")"$'\t'"$(fmt_us "${ROW_P50[i]}")"$'\t'"$(fmt_us "${ROW_P99[i]}")"$'\t'"$rss"$'\t'"$ratio"$'\t'"${ROW_ERR[i]}"$'\t'"${ROW_RUN[i]}"$'\t'"${ROW_NOTE[i]:--}")
  done
  cols=${#hdr[@]}
  for ((c = 0; c < cols; c++)); do w[c]=${#hdr[c]}; done
  for line in "${rows[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    for ((c = 0; c < cols; c++)); do ((${#f[c]} > w[c])) && w[c]=${#f[c]}; done
  done

  printf '\n== switchboard bench: %s\n' "$settings"
  printf '   %s' "$(bench_env_line)"
  printf '\n'
  for ((c = 0; c < cols; c++)); do printf '%-*s  ' "${w[c]}" "${hdr[c]}"; done
  printf '\n'
  sep=""
  for ((c = 0; c < cols; c++)); do sep+=$(printf '%*s  ' "${w[c]}" '' | tr ' ' '-'); done
  printf '%s\n' "${sep% }"
  for line in "${rows[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    for ((c = 0; c < cols; c++)); do
      if ((c >= 1 && c <= 6)); then printf '%*s  ' "${w[c]}" "${f[c]}"; else printf '%-*s  ' "${w[c]}" "${f[c]}"; fi
    done
    printf '\n'
  done
  printf '\nRSS: peak (VmHWM) of the server during its best wrk run; idle rows: VmRSS while the connections are held.\n'
  printf 'nginx RSS is master + workers summed. Redis is not counted.\n'
  for line in "${TABLE_NOTES[@]}"; do printf '%s\n' "$line"; done
  if ((${#TGT_DESC[@]})); then
    printf '\nTargets:\n'
    for ((i = 0; i < ${#TGT_DESC[@]}; i++)); do
      printf '  [%-4s] %s: %s\n' "${TGT_STATUS[i]}" "${TGT_DESC[i]}" "${TGT_VALUE[i]}"
    done
  fi

  # Markdown
  printf '\n---- Markdown ----\n\n'
  md="|"
  for ((c = 0; c < cols; c++)); do md+=" ${hdr[c]} |"; done
  printf '%s\n|' "$md"
  for ((c = 0; c < cols; c++)); do if ((c >= 1 && c <= 6)); then printf -- '---:|'; else printf -- '---|'; fi; done
  printf '\n'
  for line in "${rows[@]}"; do
    IFS=$'\t' read -r -a f <<<"$line"
    md="|"
    for ((c = 0; c < cols; c++)); do md+=" ${f[c]} |"; done
    printf '%s\n' "$md"
  done
  printf '\n%s. %s\n' "$settings" "$(bench_env_line)"
  for line in "${TABLE_NOTES[@]}"; do printf '\n%s\n' "$line"; done
  if ((${#TGT_DESC[@]})); then
    printf '\n| target | measured | status |\n|---|---:|---|\n'
    for ((i = 0; i < ${#TGT_DESC[@]}; i++)); do
      printf '| %s | %s | %s |\n' "${TGT_DESC[i]}" "${TGT_VALUE[i]}" "${TGT_STATUS[i]}"
    done
  fi
  printf '\n'
}

# targets_missed — true if any target FAILed.
targets_missed() {
  local s
  for s in "${TGT_STATUS[@]}"; do [[ $s == FAIL* ]] && return 0; done
  return 1
}

# ---------------------------------------------------------------------------------------------
# Scenario registry
# ---------------------------------------------------------------------------------------------
BENCH_SCENARIOS=()
declare -A BENCH_SCENARIO_DESC=()

# bench_scenario NAME DESCRIPTION — register scenario_NAME (defined by the same file).
bench_scenario() {
  BENCH_SCENARIOS+=("$1")
  BENCH_SCENARIO_DESC[$1]=$2
}
