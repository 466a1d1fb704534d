#!/usr/bin/env bash
# kv_vs_redis.sh: samples/kv_server against redis-server, side by side, driven by
# redis-benchmark (Debian's redis-tools), interleaved run by run.
#
#   bench/kv_vs_redis.sh [--runs N] [--requests R] [--markdown] [--kv BIN] [--workers N]
#
#   --runs N       measurements per server and configuration (3); the table shows medians
#   --requests R   requests per redis-benchmark run (200000 with -P 1, ten times that with -P 16)
#   --markdown     print the table as Markdown (with the command, commit and machine)
#   --kv BIN       the kv_server to measure (default: build/kv-bench/samples/kv_server, built
#                  here with cmake, Release, when missing)
#   --workers N    kv_server's --workers (default: its own, one per core)
#
# Configurations: pipelining -P 1 and -P 16, 50 and 1,000 connections, commands SET and GET
# (redis-benchmark -t set,get). For each configuration and run, each server is started on a
# fresh port (redis-server with no persistence: --save "" --appendonly no), the benchmark runs,
# and the server is stopped; the servers alternate, so a noisy moment hurts both. Reported per
# server: requests/s of SET and GET (redis-benchmark's figure) and the server's CPU time per
# request (user + system time from /proc during the run, divided by the requests made).
# redis-server is one thread; kv_server runs a worker per core; the client takes a core too.
#
# Installs redis-server and redis-tools with apt-get when missing (as root).
# Exit status: 0 when every run passed, 1 when a run failed, 2 on usage.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
RUNS=3 REQUESTS=200000 MARKDOWN=no KV="" WORKERS=""
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

usage() {
	sed -n '2,/^set -euo pipefail/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
	[[ $# -eq 0 ]] || echo "kv_vs_redis.sh: $*" >&2
	exit 2
}

positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || usage "$1 needs a positive integer, not '$2'"; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--runs) [[ $# -ge 2 ]] || usage "--runs needs a value"; positive --runs "$2"; RUNS=$2; shift 2 ;;
	--requests) [[ $# -ge 2 ]] || usage "--requests needs a value"; positive --requests "$2"; REQUESTS=$2; shift 2 ;;
	--workers) [[ $# -ge 2 ]] || usage "--workers needs a value"; positive --workers "$2"; WORKERS=$2; shift 2 ;;
	--kv) [[ $# -ge 2 ]] || usage "--kv needs a value"; KV=$2; shift 2 ;;
	--markdown) MARKDOWN=yes; shift ;;
	-h | --help) usage ;;
	*) usage "unknown option '$1'" ;;
	esac
done

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	echo "kv_vs_redis.sh: installing redis-server and redis-tools" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if [[ -z $KV ]]; then
	KV=$repo/build/kv-bench/samples/kv_server
	if [[ ! -x $KV ]]; then
		echo "kv_vs_redis.sh: building kv_server (build/kv-bench)" >&2
		cmake -S "$repo" -B "$repo/build/kv-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
			-DSPINDLE_BUILD_TESTS=OFF -DSPINDLE_BUILD_BENCH=OFF >/dev/null
		cmake --build "$repo/build/kv-bench" --target kv_server >/dev/null
	fi
fi
[[ -x $KV ]] || usage "no kv_server at $KV"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

logdir=$(mktemp -d /tmp/kv-vs-redis.XXXXXX)
results=$logdir/results.tsv # server P C command rps cpu_us_per_request
server_pid=""
cleanup() { [[ -z $server_pid ]] || kill -9 "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cpu_ticks() { # user + system ticks of process $1
	awk '{print $14 + $15}' "/proc/$1/stat"
}

start_server() { # start_server NAME PORT: sets server_pid, waits for PING
	local name=$1 port=$2 i
	if [[ $name == kv ]]; then
		"$KV" --port "$port" ${WORKERS:+--workers "$WORKERS"} >"$logdir/kv.log" 2>&1 &
	else
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
			--maxclients 10000 >"$logdir/redis.log" 2>&1 &
	fi
	server_pid=$!
	for i in $(seq 200); do
		[[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]] && return 0
		sleep 0.05
	done
	echo "kv_vs_redis.sh: $name did not answer PING on port $port" >&2
	return 1
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

failed=0
for pipeline in 1 16; do
	requests=$REQUESTS
	[[ $pipeline -eq 1 ]] || requests=$((REQUESTS * 10))
	for conns in 50 1000; do
		for run in $(seq "$RUNS"); do
			for name in kv redis; do
				port=$(free_port)
				if ! start_server "$name" "$port"; then
					failed=1
					stop_server
					continue
				fi
				before=$(cpu_ticks "$server_pid")
				out=$logdir/$name-P$pipeline-c$conns-$run.csv
				if ! redis-benchmark -p "$port" -c "$conns" -P "$pipeline" -n "$requests" \
					-t set,get --csv >"$out" 2>"$out.err"; then
					echo "kv_vs_redis.sh: redis-benchmark failed against $name (see $out.err)" >&2
					failed=1
				fi
				after=$(cpu_ticks "$server_pid")
				stop_server
				# redis-benchmark --csv: "test","rps",... one line per command.
				cpu_us=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n=$((2 * requests)) \
					'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
				while IFS=, read -r test rps _; do
					test=${test//\"/} rps=${rps//\"/}
					[[ $test == SET || $test == GET ]] || continue
					printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$pipeline" "$conns" "$test" "$rps" "$cpu_us" >>"$results"
					echo "  $name -P $pipeline -c $conns run $run: $test $rps req/s, server CPU $cpu_us us/req" >&2
				done <"$out"
			done
		done
	done
done

[[ -s $results ]] || { echo "kv_vs_redis.sh: no results (logs in $logdir)" >&2; exit 1; }
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$results" "$MARKDOWN" "$RUNS" "$REQUESTS" "$commit" <<'EOF'
import statistics, sys, os
path, markdown, runs, requests, commit = sys.argv[1], sys.argv[2] == "yes", sys.argv[3], sys.argv[4], sys.argv[5]
rows = {}
for line in open(path):
    server, p, c, test, rps, cpu = line.rstrip("\n").split("\t")
    rows.setdefault((int(p), int(c), test), {}).setdefault(server, []).append((float(rps), float(cpu)))
head = ["pipeline", "connections", "command", "kv req/s", "redis req/s", "kv vs redis",
        "kv CPU us/req", "redis CPU us/req"]
table = []
for (p, c, test) in sorted(rows):
    got = rows[(p, c, test)]
    med = lambda s, i: statistics.median(v[i] for v in got[s]) if s in got else float("nan")
    kv, redis = med("kv", 0), med("redis", 0)
    ratio = kv / redis if redis == redis and redis > 0 else float("nan")
    table.append([f"-P {p}", str(c), test, f"{kv:,.0f}", f"{redis:,.0f}",
                  f"{ratio:.2f}x", f"{med('kv', 1):.2f}", f"{med('redis', 1):.2f}"])
if markdown:
    print(f"`bash bench/kv_vs_redis.sh --runs {runs} --requests {requests} --markdown` "
          f"(commit {commit}, {os.cpu_count()} CPUs; medians of {runs}; the CPU column is the "
          "server's, both commands together)\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|")
    for r in table:
        print("| " + " | ".join(r) + " |")
else:
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
EOF
echo "logs in $logdir" >&2
exit $failed
