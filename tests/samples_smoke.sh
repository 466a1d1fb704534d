#!/usr/bin/env bash
# Smoke-runs every sample in the mode where it finishes by itself, each under
# a time limit, and checks its exit status. A sample program without an entry
# here fails the run, so a new sample cannot go untested. Then checks what the
# samples promise beyond their self-tests: bad options are refused (exit 2 and
# the usage), edge sizes do not crash, idle connections are closed, a server
# whose descriptors are all held by idle clients still serves a new one, the
# chat room's memory stays bounded when members never read, the servers stop
# cleanly on SIGTERM with a client connected (exit 0 and their summary line;
# prefork's master stops every worker process), http_hello drops a client
# that never finishes its request, and the crawler fetches from http_hello.
#   tests/samples_smoke.sh [DIR]      DIR: the built samples (default build/samples)
set -uo pipefail
dir=${1:-build/samples}
limit=${SPINDLE_SMOKE_TIMEOUT:-120}

smoke_args() {  # the arguments that make sample $1 end by itself
  case $1 in
    echo_server) echo "--self-test 500 --pipeline 2000000" ;;
    http_hello) echo "--self-test 50 --pipeline 2000000" ;;
    fetch_client) echo "--count 60 --concurrency 6" ;;
    pipeline) echo "--items 50000" ;;
    primes) echo "--limit 500000" ;;
    chat_server) echo "--self-test 20 --lines 50" ;;
    kv_server) echo "--self-test 50 --requests 200" ;;
    prefork) echo "--self-test 200" ;;
    crawler) echo "--self-test" ;;
    spindle_top) echo "--seconds 2 --clients 4 --dump 1" ;;
    *) return 1 ;;
  esac
}

bad_args() {  # option lists that sample $1 must refuse, one per line
  case $1 in
    echo_server | http_hello | chat_server | kv_server | prefork)
      printf '%s\n' "--port 70000" "--port -1" "--port 80x" "--idle-timeout 0" "--self-test abc" ;;&
    echo_server | http_hello | chat_server | prefork) printf '%s\n' "--grace -1" "--grace 1.5" ;;&
    echo_server) printf '%s\n' "--messages -5" "--pipeline -1" ;;
    http_hello) printf '%s\n' "--requests -1" "--request-timeout 0" "--pipeline 1.5" ;;
    chat_server) printf '%s\n' "--lines -5" "--lines 5.5" ;;
    kv_server) printf '%s\n' "--requests 0" "--self-test 0" ;;
    prefork) printf '%s\n' "--workers-procs 0" "--workers-procs 2x" "--workers-procs 65" "--self-test 0" ;;
    crawler)
      printf '%s\n' "" "ftp://example.com/" "http://" "http://a:0/" "http://a:65536/" "http://a@b/" \
        "--file" "--file $work/none" "--self-test http://a/" "--concurrency 0" "--timeout-ms 0" \
        "--max-redirects -1" "--max-body 0" "--follow-links -1" "--follow-links 1.5"
      ;;
    fetch_client) printf '%s\n' "--count -1" "--concurrency 0" "--timeout-ms 1.5" ;;
    pipeline) printf '%s\n' "--items -5" "--stage-workers 0" ;;
    primes) printf '%s\n' "--limit 12abc" "--block 0" ;;
    spindle_top) printf '%s\n' "--seconds 0" "--clients -1" "--dump 2" ;;
  esac
  case $1 in
    primes) ;;
    *) printf '%s\n' "--workers -1" "--workers 2x" ;;
  esac
  printf '%s\n' "--bogus 1" "--help-me" "--port" "--workers 99999999999999999999999"
}

if [ ! -d "$dir" ]; then
  echo "samples_smoke: no directory $dir"
  exit 1
fi
# Room for the idle clients of the descriptor checks (lowering only the soft
# limit, so that it can be raised again).
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 1024 ]; then
  ulimit -Sn 1024 2>/dev/null || true
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ran=0
failed=0

# check <description> <command...>: one check, passed when the command
# succeeds (a program: within the time limit; a function here bounds its own
# waits); its output is shown when it fails.
check() {
  local description=$1 start out status
  shift
  ran=$((ran + 1))
  start=$(date +%s)
  if declare -F "$1" >/dev/null; then
    out=$("$@" 2>&1)
  else
    out=$(timeout "$limit" "$@" 2>&1)
  fi
  status=$?
  if [ "$status" -eq 0 ]; then
    echo "ok   $description ($(($(date +%s) - start)) s)"
  else
    echo "FAIL $description (exit $status):"
    echo "$out" | tail -20 | sed 's/^/     /'
    failed=$((failed + 1))
  fi
}

# refuses <exe> <args...>: exits with status 2, the usage on stderr.
refuses() {
  local err status
  err=$(timeout 20 "$@" 2>&1 >/dev/null)
  status=$?
  if [ "$status" -ne 2 ] || [[ $err != *"usage: "* ]]; then
    echo "$* exited $status: $err"
    return 1
  fi
}

refuses_bad_options() {  # refuses_bad_options <exe>: every list of bad_args
  local exe=$1 args bad=0
  while IFS= read -r args; do
    # shellcheck disable=SC2086  # $args is a list of words
    refuses "$exe" $args || bad=1
  done < <(bad_args "$(basename "$exe")")
  timeout 20 "$exe" --help | grep -q "^usage: " || { echo "--help shows no usage"; bad=1; }
  return "$bad"
}

repeat() {  # repeat <n> <command...>: the command succeeds n times in a row
  local n=$1 i
  shift
  for ((i = 1; i <= n; i++)); do
    timeout "$limit" "$@" >/dev/null || { echo "run $i of $n failed: $*"; return 1; }
  done
}

# start_server <command...>: starts a server printing "listening on
# 127.0.0.1:PORT" in the background; sets server_pid and port. The caller
# runs in a subshell of its own (check), whose exit stops the server.
start_server() {
  local log=$work/server.$BASHPID i
  "$@" >"$log" 2>&1 &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null' EXIT
  for ((i = 0; i < 100; i++)); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "no \"listening on\" line from $*:"
  cat "$log"
  return 1
}

# closes_idle <exe>: with --idle-timeout 1, a client that sends nothing is
# disconnected (its read ends) instead of being held forever.
closes_idle() {
  local c
  start_server "$1" --port 0 --idle-timeout 1 || return 1
  exec {c}<>"/dev/tcp/127.0.0.1/$port" || return 1
  timeout 10 cat <&"$c" >/dev/null || { echo "an idle client was not disconnected"; return 1; }
}

# serves_when_exhausted <exe> <request> <reply>: the server, limited to 256
# descriptors and with its default idle timeout, is held by 400 idle clients;
# a new client that sends <request> still gets a reply starting with <reply>.
serves_when_exhausted() {
  local i fd c reply
  # shellcheck disable=SC2016  # expanded by the inner shell
  start_server bash -c 'ulimit -Sn 256 && exec "$0" "$@"' "$1" --port 0 || return 1
  for ((i = 0; i < 400; i++)); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
  done
  exec {c}<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf '%b' "$2" >&"$c"
  reply=$(timeout 30 head -c "${#3}" <&"$c")
  if [ "$reply" != "$3" ]; then
    echo "with 400 idle clients, a new one got \"$reply\" instead of \"$3\""
    return 1
  fi
}

# term_and_wait: SIGTERM to $server_pid, then waits up to 30 s for it to
# exit; sets the caller's `status` to its exit status.
term_and_wait() {
  local i
  kill -TERM "$server_pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "still running 30 s after SIGTERM"
    return 1
  fi
  wait "$server_pid"
  status=$?
}

# stops_on_sigterm <exe> <request> <reply> <unit>: a client is connected (and
# has been answered <reply> to <request>) when the server, started with a
# grace of 1 s, gets SIGTERM: the server exits with status 0 (the client
# still connected is cut after the grace) and its last line is
# "stopped by SIGTERM: 1 connections served, N <unit>".
stops_on_sigterm() {
  local c reply status summary log=$work/server.$BASHPID
  start_server "$1" --port 0 --grace 1 || return 1
  exec {c}<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf '%b' "$2" >&"$c"
  reply=$(timeout 10 head -c "${#3}" <&"$c")
  if [ "$reply" != "$3" ]; then
    echo "got \"$reply\" instead of \"$3\""
    return 1
  fi
  term_and_wait || return 1
  summary=$(tail -n 1 "$log")
  if [ "$status" -ne 0 ] ||
    ! [[ $summary =~ ^stopped\ by\ SIGTERM:\ 1\ connections\ served,\ [1-9][0-9]*\ $4$ ]]; then
    echo "exit status $status, last line \"$summary\":"
    cat "$log"
    return 1
  fi
}

# prefork_stops_on_sigterm <prefork>: as stops_on_sigterm, for the master of
# worker processes: with a client connected (and answered), SIGTERM to the
# master stops every worker; the master exits with status 0, its last line is
# "stopped by SIGTERM: 2 workers stopped, 0 restarted", and no worker process
# it started is left.
prefork_stops_on_sigterm() {
  local c reply status summary pid log=$work/server.$BASHPID
  local -a workers
  start_server "$1" --port 0 --grace 1 || return 1
  exec {c}<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&"$c"
  reply=$(timeout 10 head -c 15 <&"$c")
  if [ "$reply" != "HTTP/1.1 200 OK" ]; then
    echo "got \"$reply\" instead of \"HTTP/1.1 200 OK\""
    return 1
  fi
  mapfile -t workers < <(sed -n 's/^worker [0-9]* started: pid \([0-9]*\)$/\1/p' "$log")
  if [ "${#workers[@]}" -ne 2 ]; then
    echo "${#workers[@]} workers started, not 2:"
    cat "$log"
    return 1
  fi
  term_and_wait || return 1
  summary=$(tail -n 1 "$log")
  if [ "$status" -ne 0 ] || [ "$summary" != "stopped by SIGTERM: 2 workers stopped, 0 restarted" ]; then
    echo "exit status $status, last line \"$summary\":"
    cat "$log"
    return 1
  fi
  for pid in "${workers[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "worker $pid still runs after the master exited"
      return 1
    fi
  done
}

# crawler_fetches_http_hello <crawler> <http_hello>: the crawler fetches two
# URLs of a running http_hello, named on the command line and in a --file
# (with a comment and a blank line), and exits 0 with a row "200, 13 bytes"
# for each; a URL whose connection is refused makes it exit 1.
crawler_fetches_http_hello() {
  local out status urls=$work/urls.$BASHPID
  start_server "$2" --port 0 || return 1
  printf '# a comment\n\nhttp://127.0.0.1:%s/b?c=d\n' "$port" >"$urls"
  out=$(timeout 30 "$1" "http://127.0.0.1:$port/a" --file "$urls" --follow-links 1)
  status=$?
  if [ "$status" -ne 0 ] || [ "$(grep -cE "^http://127\.0\.0\.1:$port/(a|b\?c=d) +200 +13 " <<<"$out")" -ne 2 ]; then
    echo "exit status $status:"
    echo "$out"
    return 1
  fi
  out=$(timeout 30 "$1" "http://127.0.0.1:$port/a" http://127.0.0.1:1/)
  status=$?
  if [ "$status" -ne 1 ] || ! grep -q "^http://127\.0\.0\.1:1/ .*error: Connection refused" <<<"$out"; then
    echo "with a refused URL: exit status $status (1 expected):"
    echo "$out"
    return 1
  fi
}

# drops_slow_request <http_hello>: with --request-timeout 1, a client that
# sends half a request head and then nothing is disconnected.
drops_slow_request() {
  local c
  start_server "$1" --port 0 --request-timeout 1 || return 1
  exec {c}<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET / HTTP/1.1\r\nHost: 127' >&"$c"
  timeout 10 cat <&"$c" >/dev/null || { echo "a client with half a request was not dropped"; return 1; }
}

# kv_with_redis_tools <kv_server>: redis-cli gets Redis's exact answers, and
# redis-benchmark runs its commands (plain and pipelined) without an error.
kv_with_redis_tools() {
  local i got
  # Each command and what redis-cli prints for Redis's answer (without a tty:
  # no type decorations; a nil reply prints an empty line).
  local -a cmds=("PING" "SET a 41" "INCR a" "GET a" "SET b x EX 100" "TTL b" "MSET x 1 y 2"
    "MGET x y none" "DEL x y none" "EXISTS a b x" "INCR b" "GET none" "NOSUCH 1")
  local -a want=("PONG" "OK" "42" "42" "OK" "100" "OK" $'1\n2' "2" "2"
    "ERR value is not an integer or out of range" "" "ERR unknown command 'NOSUCH'")
  start_server "$1" --port 0 || return 1
  for i in "${!cmds[@]}"; do
    # shellcheck disable=SC2086  # one word per argument
    got=$(timeout 10 redis-cli -p "$port" ${cmds[$i]} 2>&1)
    if [ "$got" != "${want[$i]}" ]; then
      echo "redis-cli ${cmds[$i]}: got \"$got\", want \"${want[$i]}\""
      return 1
    fi
  done
  for pipeline in 1 16; do
    got=$(timeout 60 redis-benchmark -p "$port" -t ping,set,get,incr,mset -n 20000 -c 50 \
      -P "$pipeline" -q 2>&1 | tr '\r' '\n')
    if ! grep -q "^MSET.*requests per second" <<<"$got" || grep -qi "error" <<<"$got"; then
      echo "redis-benchmark -P $pipeline failed:"
      echo "$got" | tail -5
      return 1
    fi
  done
}

# chat_memory_bounded <chat_server>: 40 members never read while one sends
# 40 MB in lines of 4000 bytes (and reads). The server's peak memory stays
# far below what queueing everything would take (40 x 40 MB), and the 40 are
# disconnected.
chat_memory_bounded() {
  local i fd c peak_kib
  local -a silent=()
  start_server "$1" --port 0 || return 1
  for ((i = 0; i < 40; i++)); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
    silent+=("$fd")
  done
  exec {c}<>"/dev/tcp/127.0.0.1/$port" || return 1
  cat <&"$c" >/dev/null 2>&1 &
  head -c 40000000 /dev/zero | tr '\0' x | timeout "$limit" fold -w 4000 >&"$c" || return 1
  peak_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  echo "chat_server's peak resident memory: $((peak_kib / 1024)) MiB"
  if [ "$peak_kib" -gt $((128 * 1024)) ]; then
    echo "more than 128 MiB: the queues are not bounded"
    return 1
  fi
  for fd in "${silent[@]}"; do
    timeout 20 cat <&"$fd" >/dev/null || { echo "a member that never read is still connected"; return 1; }
  done
}

for exe in "$dir"/*; do
  [ -f "$exe" ] && [ -x "$exe" ] || continue
  name=$(basename "$exe")
  if ! args=$(smoke_args "$name"); then
    ran=$((ran + 1))
    echo "FAIL $name: no smoke mode known (add it to tests/samples_smoke.sh)"
    failed=$((failed + 1))
    continue
  fi
  # shellcheck disable=SC2086  # $args is a list of words
  check "$name $args" "$exe" $args
  check "$name refuses bad options" refuses_bad_options "$exe"
  case $name in
    chat_server)
      check "chat_server --self-test 50 --lines 100" "$exe" --self-test 50 --lines 100
      check "chat_server --self-test 200 --lines 50" "$exe" --self-test 200 --lines 50
      check "chat_server: memory bounded with 40 members that never read" chat_memory_bounded "$exe"
      ;;
    fetch_client) check "fetch_client --count 0" "$exe" --count 0 ;;
    crawler)
      if [ -x "$dir/http_hello" ]; then
        check "crawler fetches from http_hello" crawler_fetches_http_hello "$exe" "$dir/http_hello"
      fi
      ;;
    http_hello)
      check "http_hello --self-test 1 --requests 0, 20 times" repeat 20 "$exe" --self-test 1 --requests 0
      ;;
  esac
  case $name in
    kv_server) check "kv_server with redis-cli and redis-benchmark" kv_with_redis_tools "$exe" ;;
  esac
  case $name in
    echo_server | http_hello | chat_server | kv_server | prefork)
      check "$name --idle-timeout 1 closes an idle client" closes_idle "$exe"
      ;;&
    echo_server) check "echo_server: 400 idle clients, 256 descriptors" serves_when_exhausted "$exe" 'ping\n' ping ;;
    http_hello)
      check "http_hello: 400 idle clients, 256 descriptors" serves_when_exhausted "$exe" \
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "HTTP/1.1 200 OK"
      ;;
    chat_server) check "chat_server: 400 idle clients, 256 descriptors" serves_when_exhausted "$exe" '' welcome ;;
    kv_server) check "kv_server: 400 idle clients, 256 descriptors" serves_when_exhausted "$exe" 'PING\r\n' +PONG ;;
  esac
  case $name in
    echo_server) check "echo_server stops on SIGTERM" stops_on_sigterm "$exe" 'ping\n' ping messages ;;
    http_hello)
      check "http_hello stops on SIGTERM" stops_on_sigterm "$exe" \
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' "HTTP/1.1 200 OK" requests
      check "http_hello --request-timeout 1 drops a slow request" drops_slow_request "$exe"
      ;;
    chat_server) check "chat_server stops on SIGTERM" stops_on_sigterm "$exe" 'hi\n' 'welcome' lines ;;
    prefork) check "prefork stops its workers on SIGTERM" prefork_stops_on_sigterm "$exe" ;;
  esac
done
if [ "$ran" -eq 0 ]; then
  echo "samples_smoke: no sample programs in $dir"
  exit 1
fi
echo "samples: $((ran - failed)) of $ran checks passed"
[ "$failed" -eq 0 ]
