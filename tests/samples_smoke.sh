#!/usr/bin/env bash
# Smoke-runs every sample in the mode where it finishes by itself, each under
# a time limit, and checks its exit status. A sample program without an entry
# here fails the run, so a new sample cannot go untested.
#   tests/samples_smoke.sh [DIR]      DIR: the built samples (default build/samples)
set -uo pipefail
dir=${1:-build/samples}
limit=${SPINDLE_SMOKE_TIMEOUT:-120}

smoke_args() {  # the arguments that make sample $1 end by itself
  case $1 in
    echo_server) echo "--self-test 500" ;;
    http_hello) echo "--self-test 50" ;;
    fetch_client) echo "--count 60 --concurrency 6" ;;
    pipeline) echo "--items 50000" ;;
    primes) echo "--limit 500000" ;;
    chat_server) echo "--self-test 20 --lines 50" ;;
    *) return 1 ;;
  esac
}

if [ ! -d "$dir" ]; then
  echo "samples_smoke: no directory $dir"
  exit 1
fi
ran=0
failed=0
for exe in "$dir"/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name=$(basename "$exe")
  ran=$((ran + 1))
  if ! args=$(smoke_args "$name"); then
    echo "FAIL $name: no smoke mode known (add it to tests/samples_smoke.sh)"
    failed=$((failed + 1))
    continue
  fi
  start=$(date +%s)
  # shellcheck disable=SC2086  # $args is a list of words
  if out=$(timeout "$limit" "$exe" $args 2>&1); then
    echo "ok   $name $args ($(($(date +%s) - start)) s)"
  else
    echo "FAIL $name $args (exit $?):"
    echo "$out" | tail -20 | sed 's/^/     /'
    failed=$((failed + 1))
  fi
done
if [ "$ran" -eq 0 ]; then
  echo "samples_smoke: no sample programs in $dir"
  exit 1
fi
echo "samples: $((ran - failed)) of $ran passed"
[ "$failed" -eq 0 ]
