#!/usr/bin/env bash
# Runs every test: installs the Debian packages, builds a release and an ASan+UBSan build, and
# runs the cmocka unit tests and the black-box integration suite (a real server against a real
# redis-server started by the tests) against each; then builds the libFuzzer targets and runs
# each for a minute (run_fuzz). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || exit 1

PY=/usr/bin/python3 # Debian's pytest belongs to the system python
passed=0
failed=0
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

build() { # dir, meson options...
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$logdir/setup-$dir.log" 2>&1 || { cat "$logdir/setup-$dir.log"; return 1; }
  fi
  ninja -C "$dir" >"$logdir/ninja-$dir.log" 2>&1 || { cat "$logdir/ninja-$dir.log"; return 1; }
  if grep -q 'warning:' "$logdir/ninja-$dir.log"; then
    echo "compiler warnings in $dir:" >&2
    grep 'warning:' "$logdir/ninja-$dir.log" >&2
    return 1
  fi
}

count_meson() { # parses "Ok: N" / "Fail: N" of meson test
  local log=$1 ok fail
  ok=$(grep -E '^Ok:' "$log" | awk '{print $2}')
  fail=$(grep -E '^(Fail|Unexpected Pass|Timeout):' "$log" | awk '{s+=$2} END {print s+0}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0}))
}

count_pytest() { # parses pytest's closing summary
  local log=$1 line p f e
  # "-q" prints the bare summary ("12 passed, 1 failed in 3.2s"); without -q it is framed by "="
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|errors?|skipped|deselected)' "$log" | grep -E ' in [0-9.]+s' | tail -1)
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | awk '{print $1}')
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | awk '{print $1}')
  e=$(echo "$line" | grep -oE '[0-9]+ errors?' | awk '{print $1}')
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0}))
  if [ -z "$line" ]; then failed=$((failed + 1)); fi
}

run_suite() { # name, build dir, meson options...
  local name=$1 dir=$2
  shift 2
  echo "=== $name build ($dir)"
  if ! build "$dir" "$@"; then
    echo "$name build failed"
    failed=$((failed + 1))
    return
  fi
  echo "=== $name: unit tests"
  meson test -C "$dir" --print-errorlogs >"$logdir/unit-$name.log" 2>&1
  tail -n 12 "$logdir/unit-$name.log"
  count_meson "$logdir/unit-$name.log"
  echo "=== $name: integration tests"
  SWITCHBOARD_BIN="$PWD/$dir/switchboard" $PY -m pytest tests/integration -q -p no:cacheprovider \
    2>&1 | tee "$logdir/it-$name.log" | grep -vE '^\.+|^$' | tail -n 40
  count_pytest "$logdir/it-$name.log"
}

# libFuzzer targets (docs/fuzzing.md), built with clang, ASan and UBSan: each replays its seeds and
# regressions (meson's fuzz suite), then fuzzes for FUZZ_SECONDS from its committed corpus, two
# targets at a time (one per core). New inputs go to a scratch directory, never into tests/fuzz/.
# A target that does not build fails the build; a crash, sanitizer report, leak, timeout or broken
# invariant fails that target's run, and its input and log are kept in build-ci-fuzz/fuzz-failures/.
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=(fuzz_request:corpus:http.dict fuzz_platforms:corpus-platforms:platforms.dict
  fuzz_jwks:corpus-jwks:jwks.dict fuzz_client:corpus-client:client.dict)

fuzz_one() { # build dir, target, corpus, dictionary; writes the run's log and exit status
  local dir=$1 t=$2 corpus=$3 dict=$4 work="$logdir/fuzz-$2"
  "$dir/tests/fuzz/$t" -dict="tests/fuzz/$dict" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" "$work/new" "tests/fuzz/$corpus" >"$work/log" 2>&1
  echo $? >"$work/rc"
}

run_fuzz() {
  local dir=build-ci-fuzz spec t corpus dict running=0 rc
  rm -rf "$dir/fuzz-failures"
  echo "=== fuzz build ($dir)"
  if ! CC=clang build "$dir" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false; then
    echo "fuzz build failed"
    failed=$((failed + 1))
    return
  fi
  echo "=== fuzz: seeds and regressions, each input once"
  meson test -C "$dir" --suite fuzz --print-errorlogs >"$logdir/fuzz-smoke.log" 2>&1
  tail -n 12 "$logdir/fuzz-smoke.log"
  count_meson "$logdir/fuzz-smoke.log"
  echo "=== fuzz: ${FUZZ_SECONDS}s per target, two at a time"
  for spec in "${FUZZ_TARGETS[@]}"; do
    IFS=: read -r t corpus dict <<<"$spec"
    mkdir -p "$logdir/fuzz-$t/new"
    if [ "$running" -ge 2 ]; then
      wait -n
      running=$((running - 1))
    fi
    fuzz_one "$dir" "$t" "$corpus" "$dict" &
    running=$((running + 1))
  done
  wait
  for spec in "${FUZZ_TARGETS[@]}"; do
    IFS=: read -r t corpus dict <<<"$spec"
    rc=$(cat "$logdir/fuzz-$t/rc" 2>/dev/null || echo missing)
    if [ "$rc" = 0 ]; then
      passed=$((passed + 1))
      echo "fuzz $t: ok, $(grep -oE 'number_of_executed_units: [0-9]+' "$logdir/fuzz-$t/log" | awk '{print $2}') runs," \
        "$(grep -oE 'cov: [0-9]+' "$logdir/fuzz-$t/log" | tail -1)"
    else
      failed=$((failed + 1))
      echo "fuzz $t: FAILED (exit $rc)"
      tail -n 60 "$logdir/fuzz-$t/log"
      mkdir -p "$dir/fuzz-failures"
      cp "$logdir/fuzz-$t/log" "$dir/fuzz-failures/$t.log"
      find "$logdir/fuzz-$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
        -o -name 'oom-*' -o -name 'slow-unit-*' \) -exec cp {} "$dir/fuzz-failures/" \;
      echo "fuzz $t: log and input in $dir/fuzz-failures/ (docs/fuzzing.md: reproduce and minimize)"
    fi
  done
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
export LSAN_OPTIONS=exitcode=88

echo "=== layers: includes point down the layer order (docs/architecture.md)"
if $PY scripts/check_layers.py; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

run_suite release build-ci-release --buildtype=release -Db_ndebug=true
run_suite sanitizers build-ci-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
run_fuzz

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
