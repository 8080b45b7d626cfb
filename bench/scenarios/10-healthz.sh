# shellcheck shell=bash
# bench/scenarios/10-healthz.sh — GET /healthz (no Redis) against switchboard with 1 and 2
# event-loop threads and against nginx returning the same fixed JSON with 1 and 2 workers.
# Runs are interleaved (sb-1t, nginx-1w, sb-2t, nginx-2w) and the round repeated BENCH_ROUNDS
# times, so that a slow moment of the machine hits every row alike; each row keeps its best run.

bench_scenario healthz "GET /healthz: switchboard 1/2 threads vs nginx 1/2 workers (HTTP ceiling)"

scenario_healthz() {
  local order=() name r ratio label p99 st

  if bench_have_sb; then
    sb_start sb-1t 1
    sb_start sb-2t 2
  fi
  nginx_start nginx-1w 1
  nginx_start nginx-2w 2

  bench_have_sb && order+=(sb-1t)
  order+=(nginx-1w)
  bench_have_sb && order+=(sb-2t)
  order+=(nginx-2w)

  for name in "${order[@]}"; do wrk_warmup "$name" /healthz; done
  for ((r = 1; r <= BENCH_ROUNDS; r++)); do
    for name in "${order[@]}"; do
      wrk_measure "healthz $name" "$name" /healthz "$r"
    done
  done

  local w
  for w in 1 2; do
    if bench_have_sb; then
      ratio_of "healthz sb-${w}t" "healthz nginx-${w}w"
      ratio=$REPLY
      row_from_best "healthz sb-${w}t" "${ratio:--}"
    fi
    row_from_best "healthz nginx-${w}w" "-" "HTTP ceiling"
  done

  # Targets (issue: bench): /healthz >= 1.0x nginx at equal worker count; p99 < 2 ms at 64
  # connections.
  bench_have_sb || return 0
  for w in 1 2; do
    label="healthz sb-${w}t"
    ratio_of "$label" "healthz nginx-${w}w"
    ratio=$REPLY
    if [[ -n $ratio ]]; then
      cmp_status "$ratio" ">=" 1.0
      target_add "/healthz sb-${w}t >= 1.0x nginx-${w}w" "${ratio}x" "$REPLY"
    fi
    p99=${BEST_P99[$label]:-}
    [[ -n $p99 && $p99 != - ]] || continue
    if [[ $BENCH_CONNECTIONS == 64 ]]; then
      cmp_status "$p99" "<" 2000
      st=$REPLY
    else
      st="n/a"
    fi
    target_add "/healthz sb-${w}t p99 < 2 ms at 64 connections" "$(fmt_us "$p99") (c=$BENCH_CONNECTIONS)" "$st"
  done
}
