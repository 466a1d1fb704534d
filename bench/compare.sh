#!/usr/bin/env bash
# compare.sh: runs the workloads of bench/README.md on spindle and its peers, interleaved, and
# prints the medians side by side with ratios against the first program.
#
#   bench/compare.sh [options]                          # the standard comparison (below)
#   bench/compare.sh [options] NAME=COMMAND [NAME=COMMAND ...]
#
#   --runs N            runs per workload and program (3; --quick: 1)
#   --workloads "W ..." the workloads to run (all of bench/README.md; --quick: a subset)
#   --quick             a one-minute look: 1 run, 2-second echo/http windows, 100 echo
#                       connections, workloads "yield pingpong mpmc mutex sleep echo http";
#                       explicit --runs/--seconds/--echo-conns/--workloads still win
#   --markdown          print the tables as Markdown (with the command, commit and machine)
#   --syscalls          also count the servers' system calls per request (echo_srv_syscalls_c<C>,
#                       http_srv_syscalls) with perf's raw_syscalls:sys_enter tracepoint; the
#                       tracepoint slows every system call a little, so the CPU figures of a run
#                       with it are not comparable with one without
#   --hog N             N busy-looping neighbour processes for the whole comparison (0)
#   --peers "P ..."     standard comparison only: the peers to include (go tokio boost epoll nginx)
#   --seconds S         echo/http load window per measurement (5; --quick: 2)
#   --echo-conns "C ..." echo connection counts, one measurement each ("100 1000"; --quick: 100)
#   --workers N         --workers passed to every program (default: theirs, all cores)
#   --timeout S         limit per CPU-workload run (300)
#   --load-threads N    echo_load threads (1)
#   --port-base P       first port tried for servers (19000)
#   --logdir DIR        keep the logs there (default: a fresh /tmp/spindle-compare.XXXXXX)
#   --tsv FILE          also write every raw result line to FILE
#
# With no NAME=COMMAND, compare.sh builds what it needs and runs the standard comparison:
# spindle-bench (cmake Release build in build/bench; scripts/setup-debian.sh first, as root),
# the peers and echo_load through bench/build_peers.sh (into build/peers, PEERS_OUT overrides),
# then two tables: the CPU workloads on spindle go tokio boost, and echo/http on spindle
# spindle-epoll (the same binary with SPINDLE_IO=epoll) epoll tokio go nginx. A peer that does not build is left out with a warning.
#
# NAME=COMMAND: COMMAND is a program following bench/README.md
# (`COMMAND <workload> [--workers N] [--port P]`); it may carry fixed leading arguments
# ("name=prog --flag"), split on blanks. The FIRST program is the reference of every ratio.
#   e.g. compare.sh --quick --workloads "yield echo" spindle=build/bench/bench/spindle-bench \
#                   epoll=build/peers/epoll-bench
#
# Order: for each workload, for each run, each program in turn (A B C A B C ...), so slow drifts
# of a shared machine hit every program alike.
#   CPU workloads : `timeout 300 COMMAND <workload>`; result lines "<metric> <value> <unit>" on
#                   stdout. Exit 3 = N/A (the program does not implement the workload); a
#                   "FAILED ..." line, another non-zero exit or the timeout = FAILED.
#   echo          : `COMMAND echo --port P` in the background (own session and process group),
#                   wait until the port accepts (20 s at most), then echo_load with each of
#                   --echo-conns connections for --seconds (metrics suffixed _c100, _c1000);
#                   echo_load's non-zero exit (a mismatch or connection error) = FAILED. Then
#                   the server's process group gets SIGTERM (SIGKILL after 5 s) and is reaped.
#   http          : the same with `wrk -t1 -c100 -d<seconds>s --latency`: http_rps, http_p50_us,
#                   http_p99_us, http_errors (socket errors + non-2xx/3xx); any error = FAILED.
# For echo and http compare.sh also reports the server's CPU time per request
# (echo_srv_cpu_us_c<C>, http_srv_cpu_us; us/req): user + system time of the server's process
# group (from /proc) during the load, divided by the requests the client counted; and its parks
# per request (echo_srv_parks_c<C>, http_srv_parks; parks/req): the voluntary context switches
# of all its threads over the same window (each one a thread going to sleep), likewise divided. On a small
# machine where the client takes a core, throughput of efficient servers is capped by the
# client; CPU per request still tells them apart. Every server start gets a fresh free port, so
# a server in TIME_WAIT or a stray process on the port cannot skew the next run.
#
# Output (stdout): per comparison one table, a row per metric, a column per program with the
# median over the runs, and per other program a ratio column "<first> vs <other>" worded
# "R x faster/slower" (smaller/larger for memory, better/worse for speedup, less/more CPU):
# ratio = first's speed / other's speed, so "2.00x faster" means the FIRST program is twice as
# good. Progress and per-run values go to stderr; raw output of every run stays in the log
# directory, with raw.tsv: workload run program metric value unit status note.
#
# Environment: PEERS_OUT (build/peers), ECHO_LOAD (default $PEERS_OUT/echo_load, built from
# bench/tools/echo_load.c if missing), WRK (wrk), CC (gcc).
# Exit status: 0 if every run was ok or N/A, 1 if anything FAILED or a build failed, 2 on usage.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ALL_WORKLOADS="yield spawn skynet fib pingpong mpmc mutex idle sleep cancel deadline stall file_read echo http"
NET_WORKLOADS="echo http"
# Workloads of spindle's own API (cancellation, stalls) that the peers do not implement: in the
# standard comparison only spindle runs them (the peers are shown as N/A). `deadline` runs on
# every peer: Go and Tokio implement it, Boost.Fiber exits 3.
SPINDLE_ONLY_WORKLOADS="cancel stall file_read"
IN_STANDARD=no
QUICK_WORKLOADS="yield pingpong mpmc mutex sleep echo http"
# The standard comparison: which peers take part in which half (see bench/README.md).
CPU_PEERS="go tokio boost"
NET_PEERS="epoll tokio go nginx"
HTTP_CONNS=100
PEERS_OUT=${PEERS_OUT:-$repo/build/peers}
WRK=${WRK:-wrk}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
ORIG_ARGS=("$@")

# ---------- options ----------

usage() { # no argument: the whole header on stdout; with a message: synopsis + message, exit 2
	if [[ $# -eq 0 ]]; then
		sed -n '2,/^set -euo pipefail/p' "$0" | sed -n 's/^# \{0,1\}//p'
		exit 0
	fi
	sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2
	echo "compare.sh: $* (--help for all options)" >&2
	exit 2
}

# Options left empty here get their default (or their --quick default) after parsing, so that
# --quick and explicit options may come in any order.
RUNS="" WORKLOADS="" LOAD_SECONDS="" ECHO_CONNS=""
QUICK=no MARKDOWN=no TSV="" WORKERS="" PORT_BASE=19000 LOAD_THREADS=1 LOGDIR="" CPU_TIMEOUT=300
HOG=0 PEERS="" SYSCALLS=no SYSCALL_PERF="" SYSCALL_COUNT=""
NAMES=() CMDS=()

# value of option $1 given as "$1 V" or "$1=V"; sets OPTVAL and OPTSHIFT
option_value() {
	if [[ $2 == *=* ]]; then
		OPTVAL=${2#*=} OPTSHIFT=1
	else
		[[ $# -ge 3 ]] || usage "$1 needs a value"
		OPTVAL=$3 OPTSHIFT=2
	fi
}

add_program() { # NAME=COMMAND
	local name=${1%%=*} cmd=${1#*=} n
	local -a words
	[[ $name =~ ^[A-Za-z0-9_.+-]+$ ]] || usage "bad program name '$name' (letters, digits, _ . + -)"
	for n in "${NAMES[@]}"; do [[ $n != "$name" ]] || usage "program name '$name' given twice"; done
	[[ -n $cmd ]] || usage "empty command for $name"
	read -r -a words <<<"$cmd"
	command -v -- "${words[0]}" >/dev/null 2>&1 || usage "$name: '${words[0]}' is not an executable"
	NAMES+=("$name")
	CMDS+=("$cmd")
}

parse_args() {
	local opt
	while [[ $# -gt 0 ]]; do
		if [[ $1 != -* && $1 == *=* ]]; then
			add_program "$1"
			shift
			continue
		fi
		opt=${1%%=*}
		case $opt in
		--quick) QUICK=yes; shift; continue ;;
		--markdown) MARKDOWN=yes; shift; continue ;;
		--syscalls) SYSCALLS=yes; shift; continue ;;
		-h | --help) usage ;;
		--runs | --workloads | --tsv | --workers | --seconds | --port-base | --load-threads | \
			--hog | --timeout | --echo-conns | --logdir | --peers)
			option_value "$opt" "$@"
			shift "$OPTSHIFT"
			;;
		-*) usage "unknown option $1" ;;
		*) usage "expected NAME=COMMAND, got '$1'" ;;
		esac
		case $opt in
		--runs) RUNS=$OPTVAL ;;
		--workloads) WORKLOADS=$OPTVAL ;;
		--tsv) TSV=$OPTVAL ;;
		--workers) WORKERS=$OPTVAL ;;
		--seconds) LOAD_SECONDS=$OPTVAL ;;
		--port-base) PORT_BASE=$OPTVAL ;;
		--load-threads) LOAD_THREADS=$OPTVAL ;;
		--hog) HOG=$OPTVAL ;;
		--timeout) CPU_TIMEOUT=$OPTVAL ;;
		--echo-conns) ECHO_CONNS=$OPTVAL ;;
		--logdir) LOGDIR=$OPTVAL ;;
		--peers) PEERS=$OPTVAL ;;
		esac
	done

	if [[ $QUICK == yes ]]; then
		: "${RUNS:=1}" "${LOAD_SECONDS:=2}" "${ECHO_CONNS:=100}" "${WORKLOADS:=$QUICK_WORKLOADS}"
	else
		: "${RUNS:=3}" "${LOAD_SECONDS:=5}" "${ECHO_CONNS:=100 1000}" "${WORKLOADS:=$ALL_WORKLOADS}"
	fi
	[[ $RUNS =~ ^[1-9][0-9]*$ ]] || usage "bad --runs"
	[[ $LOAD_SECONDS =~ ^[1-9][0-9]*$ ]] || usage "bad --seconds (whole seconds)"
	[[ $PORT_BASE =~ ^[1-9][0-9]*$ && $PORT_BASE -lt 65000 ]] || usage "bad --port-base"
	[[ $LOAD_THREADS =~ ^[1-9][0-9]*$ ]] || usage "bad --load-threads"
	[[ $CPU_TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage "bad --timeout"
	[[ $HOG =~ ^[0-9]+$ ]] || usage "bad --hog"
	[[ -z $WORKERS || $WORKERS =~ ^[1-9][0-9]*$ ]] || usage "bad --workers"
	[[ -n ${ECHO_CONNS// /} ]] || usage "empty --echo-conns"
	local c w p
	for c in $ECHO_CONNS; do [[ $c =~ ^[1-9][0-9]*$ ]] || usage "bad --echo-conns '$ECHO_CONNS'"; done
	[[ -n ${WORKLOADS// /} ]] || usage "empty --workloads"
	for w in $WORKLOADS; do
		# Any other name is run as a CPU workload (a program's own extra workloads); a program
		# that lacks it answers N/A (exit 3).
		[[ $w =~ ^[a-z][a-z0-9_]*$ ]] || usage "bad workload name '$w' (known: $ALL_WORKLOADS)"
	done
	if [[ -n $PEERS ]]; then
		[[ ${#NAMES[@]} -eq 0 ]] || usage "--peers is for the standard comparison, not with NAME=COMMAND"
		for p in $PEERS; do
			[[ " $CPU_PEERS $NET_PEERS " == *" $p "* ]] || usage "unknown peer '$p' (go tokio boost epoll nginx)"
		done
	fi
	WORKER_ARGS=()
	[[ -z $WORKERS ]] || WORKER_ARGS=(--workers "$WORKERS")
}

# ---------- building (standard comparison) ----------

# spindle-bench: an optimised build of its own, so a debug or sanitizer build elsewhere never
# gets measured by mistake. Tests and samples are off: only spindle-bench is built.
build_spindle() {
	local dir=$repo/build/bench
	local -a gen=()
	# the project's own set-up (compiler, CMake, Boost.Context, concurrentqueue), as root only:
	# otherwise CMake names what is missing
	if [[ $(id -u) == 0 ]]; then
		bash "$repo/scripts/setup-debian.sh" >&2
	fi
	# The generator can only be chosen at the first configure of a build directory.
	if [[ ! -f $dir/CMakeCache.txt ]] && command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
	echo "compare.sh: building spindle-bench (Release) in $dir" >&2
	mkdir -p "$dir"
	if ! cmake -S "$repo" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
		-DSPINDLE_BUILD_TESTS=OFF -DSPINDLE_BUILD_SAMPLES=OFF >"$dir/configure.log" 2>&1; then
		cat "$dir/configure.log" >&2
		echo "compare.sh: spindle-bench did not configure" >&2
		exit 1
	fi
	cmake --build "$dir" --target spindle-bench -j "$(nproc)" >&2
	SPINDLE_BENCH=$dir/bench/spindle-bench
}

# peer name (as in the tables) -> directory under bench/peers and program under PEERS_OUT
peer_dir() { case $1 in boost) echo boost_fiber ;; *) echo "$1" ;; esac; }
peer_program() { case $1 in boost) echo boost-fiber-bench ;; *) echo "$1-bench" ;; esac; }

# whether the workload list $1 has a CPU workload / a network workload
has_cpu_workloads() { local w; for w in $1; do [[ " $NET_WORKLOADS " == *" $w "* ]] || return 0; done; return 1; }
has_net_workloads() { local w; for w in $1; do [[ " $NET_WORKLOADS " != *" $w "* ]] || return 0; done; return 1; }

# Builds spindle-bench and the peers the standard comparison needs; sets STD_PEERS to those that
# built (a peer whose toolchain is missing is left out with a warning rather than failing all).
build_standard() {
	local wanted="" p dirs=()
	has_cpu_workloads "$WORKLOADS" && wanted+=" $CPU_PEERS"
	has_net_workloads "$WORKLOADS" && wanted+=" $NET_PEERS"
	STD_PEERS=()
	for p in $wanted; do
		[[ -z $PEERS || " $PEERS " == *" $p "* ]] || continue
		[[ " ${STD_PEERS[*]} " == *" $p "* ]] || STD_PEERS+=("$p")
	done
	build_spindle
	for p in "${STD_PEERS[@]}"; do dirs+=("$(peer_dir "$p")"); done
	# build_peers.sh names what failed; the check below drops it from the comparison. With no
	# peer it would build them all: then only echo_load is needed, which check_tools builds.
	if ((${#dirs[@]})); then
		PEERS_OUT=$PEERS_OUT bash "$here/build_peers.sh" "${dirs[@]}" >&2 || BUILD_FAILED=1
	fi
	local -a built=()
	for p in "${STD_PEERS[@]}"; do
		if [[ -x $PEERS_OUT/$(peer_program "$p") ]]; then
			built+=("$p")
		else
			echo "compare.sh: WARNING: peer $p did not build; left out of the comparison" >&2
		fi
	done
	STD_PEERS=("${built[@]}")
}

# ---------- tools ----------

check_tools() { # workloads
	if [[ " $1 " == *" echo "* ]]; then
		ECHO_LOAD=${ECHO_LOAD:-$PEERS_OUT/echo_load}
		if [[ ! -x $ECHO_LOAD ]]; then
			echo "compare.sh: building $ECHO_LOAD from bench/tools/echo_load.c" >&2
			mkdir -p "$(dirname "$ECHO_LOAD")"
			"${CC:-gcc}" -std=c11 -O2 -pthread -o "$ECHO_LOAD" "$here/tools/echo_load.c" ||
				{ echo "compare.sh: cannot build echo_load" >&2; exit 1; }
		fi
	fi
	if [[ " $1 " == *" http "* ]] && ! command -v "$WRK" >/dev/null 2>&1; then
		echo "compare.sh: no wrk (apt-get install wrk, or bash bench/build_peers.sh as root)" >&2
		exit 1
	fi
	return 0
}

# ---------- process bookkeeping: never leave anything running ----------
SERVER_PID=""
SERVER_GROUP=no
CLIENT_PID=""
HOG_PIDS=()

# true while process $1 exists and is not a zombie
pid_running() {
	local line
	read -r line 2>/dev/null </proc/"$1"/stat || return 1
	line=${line##*) }
	[[ ${line%% *} != Z ]]
}

signal_server() { # signal pid
	if [[ $SERVER_GROUP == yes ]]; then kill "-$1" -- "-$2" 2>/dev/null || true; else kill "-$1" "$2" 2>/dev/null || true; fi
}

stop_server() {
	local pid=$SERVER_PID i
	[[ -n $pid ]] || return 0
	SERVER_PID=""
	signal_server TERM "$pid"
	for i in $(seq 50); do
		pid_running "$pid" || break
		sleep 0.1
	done
	if pid_running "$pid"; then
		echo "compare.sh: server $pid ignored SIGTERM for 5 s; SIGKILL" >&2
		signal_server KILL "$pid"
	fi
	wait "$pid" 2>/dev/null || true
	# children of the server (e.g. nginx workers) left in its process group
	if [[ $SERVER_GROUP == yes ]]; then
		for i in $(seq 30); do
			kill -0 -- "-$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	return 0
}

# shellcheck disable=SC2317 # (called from cleanup, the EXIT trap)
stop_hogs() {
	local p
	for p in "${HOG_PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	HOG_PIDS=()
}

# shellcheck disable=SC2317 # (the EXIT trap)
cleanup() {
	if [[ -n $CLIENT_PID ]]; then
		kill -TERM "$CLIENT_PID" 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
		CLIENT_PID=""
	fi
	stop_server
	stop_hogs
}

# --hog N: N busy-looping processes beside every program for the whole comparison, as a
# container on a shared host sees them (every program suffers the same neighbours).
start_hogs() {
	local _
	for _ in $(seq "$HOG"); do
		(while :; do :; done) &
		HOG_PIDS+=($!)
	done
	[[ $HOG -eq 0 ]] || echo "compare.sh: $HOG busy-looping neighbour process(es) running" >&2
}

# Runs a client in the background and waits for it, so that a signal to compare.sh is handled
# at once (the trap kills it); sets RC.
run_client() {
	local out=$1 err=$2
	shift 2
	"$@" >"$out" 2>"$err" &
	CLIENT_PID=$!
	RC=0
	wait "$CLIENT_PID" || RC=$?
	CLIENT_PID=""
}

port_in_use() {
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]
	else
		timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
	fi
}

port_accepts() {
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

pick_port() {
	local p=$NEXT_PORT
	while port_in_use "$p"; do
		p=$((p + 1))
		[[ $p -lt 65535 ]] || { echo "compare.sh: no free port from $PORT_BASE" >&2; exit 1; }
	done
	NEXT_PORT=$((p + 1))
	PORT=$p
}

# ---------- recording ----------
FAILED_ANY=0
BUILD_FAILED=0
record() { # workload run program metric value unit status note
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"
	[[ $7 != FAILED ]] || FAILED_ANY=1
}

# metric lines of file $1 -> records (suffix $2 on metric names, status $3); sets NMETRICS
record_metrics() {
	local file=$1 suffix=$2 status=$3 w=$4 run=$5 name=$6 note=${7:-} m v u rest n=0
	while read -r m v u rest; do
		[[ -z ${rest:-} && -n ${u:-} && $m != FAILED ]] || continue
		[[ $m =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
		[[ $v =~ ^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] || continue
		record "$w" "$run" "$name" "$m$suffix" "$v" "$u" "$status" "$note"
		n=$((n + 1))
	done <"$file"
	NMETRICS=$n
}

show() { # stderr progress: the metric lines of a file
	awk '$1 !~ /^FAILED$/ && NF == 3 { printf " %s=%s%s", $1, $2, $3 } END { print "" }' "$1" >&2
}

tail_err() { # the last lines of a stderr file, indented
	if [[ -s $1 ]]; then tail -n 5 "$1" | sed 's/^/      | /' >&2; fi
}

# ---------- workloads ----------

run_cpu() { # workload run index
	local w=$1 run=$2 i=$3 name=${NAMES[$3]} base why="" t_start=$SECONDS
	local -a cmd
	read -r -a cmd <<<"${CMDS[$i]}"
	base=$LOGDIR_PHASE/$w.$run.$name
	printf '  %-12s %s run %s:' "$name" "$w" "$run" >&2
	if [[ $IN_STANDARD == yes && $i -gt 0 && " $SPINDLE_ONLY_WORKLOADS " == *" $w "* ]]; then
		echo " N/A (spindle only)" >&2
		record "$w" "$run" "$name" '*' '' '' NA "spindle only"
		return
	fi
	run_client "$base.out" "$base.err" timeout -k 10 "$CPU_TIMEOUT" "${cmd[@]}" "$w" "${WORKER_ARGS[@]}"
	if [[ $RC -eq 3 ]]; then
		echo " N/A (exit 3)" >&2
		record "$w" "$run" "$name" '*' '' '' NA "exit 3"
		return
	fi
	if [[ $RC -eq 124 ]] || [[ $RC -eq 137 && $((SECONDS - t_start)) -ge $CPU_TIMEOUT ]]; then
		why="timeout ${CPU_TIMEOUT}s"
	elif grep -q '^FAILED' "$base.out"; then
		why=$(grep -m1 '^FAILED' "$base.out")
	elif [[ $RC -gt 128 ]]; then
		why="exit $RC: killed by signal $((RC - 128))"
	elif [[ $RC -ne 0 ]]; then
		why="exit $RC"
	fi
	if [[ -n $why ]]; then
		record_metrics "$base.out" "" FAILED "$w" "$run" "$name" "$why"
		record "$w" "$run" "$name" '*' '' '' FAILED "$why"
		echo " FAILED ($why)" >&2
		tail_err "$base.err"
		return
	fi
	record_metrics "$base.out" "" ok "$w" "$run" "$name"
	if [[ $NMETRICS -eq 0 ]]; then
		record "$w" "$run" "$name" '*' '' '' FAILED "no result line"
		echo " FAILED (no result line)" >&2
		tail_err "$base.err"
		return
	fi
	show "$base.out"
}

# Starts "COMMAND <workload> --port P" in its own session; returns 0 once the port accepts,
# 3 when the program says N/A, 1 on failure (SERVER_WHY says why).
start_server() { # workload index logbase
	local w=$1 i=$2 base=$3 pgid rc
	local -a cmd
	read -r -a cmd <<<"${CMDS[$i]}"
	pick_port
	setsid "${cmd[@]}" "$w" --port "$PORT" "${WORKER_ARGS[@]}" >"$base.server.out" 2>"$base.server.err" </dev/null &
	SERVER_PID=$!
	SERVER_GROUP=no
	# setsid execs in place (this shell's children are never group leaders), so once it has
	# run, pid == pgid and the whole group (server and its children) can be signalled.
	for _ in $(seq 40); do
		pgid=$(ps -o pgid= -p "$SERVER_PID" 2>/dev/null | tr -d ' ' || true)
		if [[ $pgid == "$SERVER_PID" ]]; then SERVER_GROUP=yes; break; fi
		[[ -n $pgid ]] || break
		sleep 0.05
	done
	for _ in $(seq 200); do
		if ! pid_running "$SERVER_PID"; then
			rc=0
			wait "$SERVER_PID" || rc=$?
			SERVER_PID=""
			[[ $rc -ne 3 ]] || return 3
			SERVER_WHY="server exited $rc before accepting"
			return 1
		fi
		if port_accepts "$PORT"; then
			# a program that exits 3 at once may not have been seen dead yet: look again
			pid_running "$SERVER_PID" || continue
			return 0
		fi
		sleep 0.1
	done
	SERVER_WHY="port $PORT not accepting after 20 s"
	stop_server
	return 1
}

# The server's process ids, one per line: every process of its process group (nginx's workers
# too), or the server process alone. Processes may vanish while /proc is read; that is not an
# error.
server_pids() {
	local pid=$SERVER_PID
	[[ -n $pid ]] || return 0
	if [[ $SERVER_GROUP == yes ]]; then
		cat /proc/[0-9]*/stat 2>/dev/null | awk -v pg="$pid" '
			{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); if (f[3] == pg) print $1 }'
	else
		echo "$pid"
	fi
}

# CPU time (user + system, in clock ticks) used so far by the server's processes.
server_cpu_ticks() {
	local p
	for p in $(server_pids); do cat "/proc/$p/stat" 2>/dev/null || true; done | awk '
		{ s = $0; sub(/^.*\) /, "", s); split(s, f, " ")   # f[1] = field 3 (state)
		  t += f[12] + f[13] }
		END { print t + 0 }'
}

# Voluntary context switches so far of every thread of the server's processes: a thread makes
# one each time it goes to sleep (a worker's park: a futex or a blocking epoll_wait), so the
# difference over the load window counts the server's parks.
server_parks() {
	local p
	for p in $(server_pids); do cat /proc/"$p"/task/*/status 2>/dev/null || true; done |
		awk '/^voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# appends "<metric> <(after - before) x scale per request> <unit>" to a result file holding
# <rps_metric> (requests/s over LOAD_SECONDS)
add_per_request_metric() { # file rps_metric metric before after scale format unit
	awk -v rm="$2" -v m="$3" -v d="$(($5 - $4))" -v scale="$6" -v fmt="$7" -v u="$8" \
		-v secs="$LOAD_SECONDS" '
		$1 == rm && $2 > 0 { printf "%s " fmt " %s\n", m, d * scale / ($2 * secs), u }
	' "$1" >"$1.per_request"
	cat "$1.per_request" >>"$1"
	rm -f "$1.per_request"
}

# the server's CPU time (us) and parks per request, from the readings before and after the load
add_server_metrics() { # file rps_metric prefix ticks_before ticks_after parks_before parks_after
	add_per_request_metric "$1" "$2" "${3}_cpu_us" "$4" "$5" "$(awk -v hz="$CLK_TCK" 'BEGIN { print 1e6 / hz }')" %.2f us/req
	add_per_request_metric "$1" "$2" "${3}_parks" "$6" "$7" 1 %.4f parks/req
}

# --syscalls: perf counts the system calls of every thread of the server's processes while the
# load runs; stop_syscall_count sets SYSCALL_COUNT (empty without --syscalls, or if perf failed).
# Not in a $(...): it waits for perf, a child of this shell.
start_syscall_count() { # perf output file
	SYSCALL_PERF="" SYSCALL_COUNT=""
	[[ $SYSCALLS == yes ]] || return 0
	local pids
	pids=$(server_pids | paste -sd, -)
	[[ -n $pids ]] || return 0
	perf stat -x, -e raw_syscalls:sys_enter -p "$pids" -o "$1" >/dev/null 2>&1 &
	SYSCALL_PERF=$!
	sleep 0.2 # attached before the load starts
}

stop_syscall_count() { # perf output file
	[[ -n $SYSCALL_PERF ]] || return 0
	kill -INT "$SYSCALL_PERF" 2>/dev/null || true
	wait "$SYSCALL_PERF" 2>/dev/null || true
	SYSCALL_PERF=""
	SYSCALL_COUNT=$(awk -F, '$3 == "raw_syscalls:sys_enter" && $1 ~ /^[0-9]+$/ { print $1 }' "$1" 2>/dev/null || true)
}

# appends <prefix>_syscalls per request when a count was taken
add_syscall_metric() { # file rps_metric prefix count
	[[ -n $4 ]] || return 0
	add_per_request_metric "$1" "$2" "${3}_syscalls" 0 "$4" 1 %.3f calls/req
}

server_alive() {
	[[ -n $SERVER_PID ]] && pid_running "$SERVER_PID"
}

# starts the server of workload $1 for program $3 (run $2); 0 when it accepts, else recorded
begin_server() { # workload run index logbase
	local w=$1 run=$2 name=${NAMES[$3]} rc=0
	printf '  %-12s %s run %s:' "$name" "$w" "$run" >&2
	start_server "$w" "$3" "$4" || rc=$?
	if [[ $rc -eq 3 ]]; then
		echo " N/A (exit 3)" >&2
		record "$w" "$run" "$name" '*' '' '' NA "exit 3"
	elif [[ $rc -ne 0 ]]; then
		echo " FAILED ($SERVER_WHY)" >&2
		record "$w" "$run" "$name" '*' '' '' FAILED "$SERVER_WHY"
		tail_err "$4.server.err"
	else
		printf ' port %s' "$PORT" >&2
	fi
	return "$rc"
}

run_echo() { # run index
	local run=$1 i=$2 name=${NAMES[$2]} base c sfx t0 t1 k0 k1 why
	base=$LOGDIR_PHASE/echo.$run.$name
	begin_server echo "$run" "$i" "$base" || return 0
	for c in $ECHO_CONNS; do
		sfx=_c$c
		start_syscall_count "$base.c$c.perf"
		t0=$(server_cpu_ticks)
		k0=$(server_parks)
		run_client "$base.c$c.out" "$base.c$c.err" timeout -k 5 $((LOAD_SECONDS + 90)) \
			"$ECHO_LOAD" --port "$PORT" --connections "$c" --seconds "$LOAD_SECONDS" --threads "$LOAD_THREADS"
		t1=$(server_cpu_ticks)
		k1=$(server_parks)
		stop_syscall_count "$base.c$c.perf"
		if [[ $RC -eq 0 ]] && server_alive; then
			add_server_metrics "$base.c$c.out" echo_rps echo_srv "$t0" "$t1" "$k0" "$k1"
			add_syscall_metric "$base.c$c.out" echo_rps "echo_srv" "$SYSCALL_COUNT"
			record_metrics "$base.c$c.out" "$sfx" ok echo "$run" "$name"
			if [[ $NMETRICS -eq 0 ]]; then
				record echo "$run" "$name" "echo_rps$sfx" '' '' FAILED "no output from echo_load"
				printf ' c%s FAILED(no output)' "$c" >&2
			else
				awk -v c="$c" '$1=="echo_rps"{r=$2} $1=="echo_p99_us"{p=$2} END{printf " c%s: %s req/s p99 %s us", c, r, p}' "$base.c$c.out" >&2
			fi
		else
			why="echo_load exit $RC"
			server_alive || why="server died"
			[[ $RC -ne 124 ]] || why="echo_load timed out"
			record_metrics "$base.c$c.out" "$sfx" FAILED echo "$run" "$name" "$why"
			[[ $NMETRICS -ne 0 ]] || record echo "$run" "$name" "echo_rps$sfx" '' '' FAILED "$why"
			printf ' c%s FAILED(%s)\n' "$c" "$why" >&2
			tail_err "$base.c$c.err"
			server_alive || break # stop_server below reaps it
		fi
	done
	echo >&2
	stop_server
}

# wrk's output -> lines "metric value unit" (latencies like "1.23ms" in microseconds)
wrk_parse() {
	awk '
	function us(s,   v) {
		v = s + 0
		if (s ~ /us$/) return v
		if (s ~ /ms$/) return v * 1000
		if (s ~ /m$/) return v * 60e6
		if (s ~ /h$/) return v * 3600e6
		if (s ~ /s$/) return v * 1e6
		return v
	}
	/^Requests\/sec:/ { rps = sprintf("http_rps %.0f req/s", $2) }
	/^[ \t]+50%[ \t]/ { p50 = sprintf("http_p50_us %.1f us", us($2)) }
	/^[ \t]+99%[ \t]/ { p99 = sprintf("http_p99_us %.1f us", us($2)) }
	/Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $NF }
	END {
		if (rps != "") print rps
		if (p50 != "") print p50
		if (p99 != "") print p99
		printf "http_errors %d count\n", err
	}
	' "$1"
}

run_http() { # run index
	local run=$1 i=$2 name=${NAMES[$2]} base t0 t1 k0 k1 errs why=""
	base=$LOGDIR_PHASE/http.$run.$name
	begin_server http "$run" "$i" "$base" || return 0
	start_syscall_count "$base.perf"
	t0=$(server_cpu_ticks)
	k0=$(server_parks)
	run_client "$base.wrk.out" "$base.wrk.err" timeout -k 5 $((LOAD_SECONDS + 60)) \
		"$WRK" -t1 -c"$HTTP_CONNS" -d"${LOAD_SECONDS}s" --latency "http://127.0.0.1:$PORT/"
	t1=$(server_cpu_ticks)
	k1=$(server_parks)
	stop_syscall_count "$base.perf"
	wrk_parse "$base.wrk.out" >"$base.out"
	add_server_metrics "$base.out" http_rps http_srv "$t0" "$t1" "$k0" "$k1"
	add_syscall_metric "$base.out" http_rps http_srv "$SYSCALL_COUNT"
	errs=$(awk '$1=="http_errors"{print $2}' "$base.out")
	grep -q '^http_rps ' "$base.out" || why="no Requests/sec from wrk (exit $RC)"
	[[ ${errs:-0} -eq 0 ]] || why="wrk reported $errs errors"
	[[ $RC -eq 0 ]] || why="wrk exit $RC"
	server_alive || why="server died"
	if [[ -n $why ]]; then
		record_metrics "$base.out" "" FAILED http "$run" "$name" "$why"
		record http "$run" "$name" '*' '' '' FAILED "$why"
		echo " FAILED ($why)" >&2
		tail_err "$base.wrk.err"
		{ grep -E 'errors|Non-2xx' "$base.wrk.out" || true; } | sed 's/^/      | /' >&2
	else
		record_metrics "$base.out" "" ok http "$run" "$name"
		show "$base.out"
	fi
	stop_server
}

# ---------- table ----------

# The table of medians and ratios from raw.tsv $1: aligned columns, or Markdown (--markdown).
summarize() {
	awk -v progs="${NAMES[*]}" -v wls="$PHASE_WORKLOADS" -v runs="$RUNS" -v md="$MARKDOWN" '
	BEGIN { FS = "\t"; np = split(progs, P, " "); nw = split(wls, W, " ") }
	NR == 1 { next }
	{
		w = $1; run = $2; p = $3; m = $4; v = $5; u = $6; st = $7
		if (m == "*") {
			if (st == "NA") na[w, p] = 1; else allfail[w, p, run] = 1
			next
		}
		if (!((w, m) in seen)) { seen[w, m] = 1; nm[w]++; M[w, nm[w]] = m; unit[w, m] = u }
		if (st == "ok" && v != "") { n = ++cnt[w, m, p]; val[w, m, p, n] = v + 0 }
		else fail[w, m, p, run] = 1
	}
	function median(w, m, p,   n, i, j, t, a) {
		n = cnt[w, m, p]
		for (i = 1; i <= n; i++) a[i] = val[w, m, p, i]
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function fmt(x,   ax) {
		ax = x < 0 ? -x : x
		if (x == int(x)) return sprintf("%.0f", x)
		if (ax >= 1000) return sprintf("%.0f", x)
		if (ax >= 100) return sprintf("%.1f", x)
		if (ax >= 10) return sprintf("%.2f", x)
		return sprintf("%.3f", x)
	}
	# +1: higher is better, -1: lower is better, 0: no ratio
	function direction(m, u) {
		if (m ~ /errors/ || u == "count") return 0
		if (m ~ /(_rps|_mps|speedup)(_c[0-9]+)?$/ || u ~ /\/s$/ || u == "x") return 1
		return -1
	}
	function words(m, u) {
		if (m ~ /speedup/ || u == "x") return "better|worse"
		if (u ~ /^(KiB|KB|kB|kb|MiB|MB|B|bytes)$/ || m ~ /_kb$/) return "smaller|larger"
		if (m ~ /_cpu_/) return "less CPU|more CPU"
		if (m ~ /_parks/) return "fewer parks|more parks"
		if (m ~ /_syscalls/) return "fewer calls|more calls"
		return "faster|slower"
	}
	function cell(w, m, p,   r, nf) {
		nf = 0
		for (r = 1; r <= runs; r++) if (((w, m, p, r) in fail) || ((w, p, r) in allfail)) nf++
		if (cnt[w, m, p] > 0) { MED = median(w, m, p); HAS = 1; return fmt(MED) (nf ? "!" : "") }
		HAS = 0
		if ((w, p) in na) return "N/A"
		if (nf) return "FAILED"
		anydash = 1
		return "-"
	}
	function add(r, c, s) { T[r, c] = s; if (length(s) > wid[c]) wid[c] = length(s) }
	function legend(s) { if (md == "yes") print "- " s; else print s }
	# a cell symbol in the legend; in Markdown as code, or "- = ..." would start a nested list
	function sym(x) { return md == "yes" ? "`" x "`" : x }
	END {
		nc = 0
		add(0, ++nc, "metric"); add(0, ++nc, "unit")
		for (j = 1; j <= np; j++) {
			add(0, ++nc, P[j])
			if (j > 1) add(0, ++nc, P[1] " vs " P[j])
		}
		nr = 0; anyfail = 0; anyna = 0
		for (k = 1; k <= nw; k++) {
			w = W[k]
			if (nm[w] == 0) { nm[w] = 1; M[w, 1] = w " (no result)"; unit[w, M[w, 1]] = "" }
			for (q = 1; q <= nm[w]; q++) {
				m = M[w, q]; u = unit[w, m]; nr++; c = 0
				add(nr, ++c, m); add(nr, ++c, u)
				dir = direction(m, u); split(words(m, u), wd, "|")
				first = cell(w, m, P[1]); fhas = HAS; fmed = MED
				add(nr, ++c, first)
				if (first ~ /!$|FAILED/) anyfail = 1
				if (first == "N/A") anyna = 1
				for (j = 2; j <= np; j++) {
					s = cell(w, m, P[j]); add(nr, ++c, s)
					if (s ~ /!$|FAILED/) anyfail = 1
					if (s == "N/A") anyna = 1
					rs = ""
					if (dir != 0 && fhas && HAS && fmed > 0 && MED > 0) {
						r = dir > 0 ? fmed / MED : MED / fmed
						rs = r >= 1 ? sprintf("%.2fx %s", r, wd[1]) : sprintf("%.2fx %s", 1 / r, wd[2])
					} else if (dir != 0) { rs = "-"; anydash = 1 }
					add(nr, ++c, rs)
				}
			}
		}
		legend(sprintf("medians of %d run(s) per program", runs))
		if (np > 1) {
			legend(sprintf("ratio columns \"%s vs X\" = %s'"'"'s speed / X'"'"'s speed: \"R x faster\" = %s is R times faster than X, \"R x slower\" = R times slower", P[1], P[1], P[1]))
			legend("(smaller/larger: memory; better/worse: speedup; less/more CPU: server CPU time per request; fewer/more parks: server threads going to sleep per request; fewer/more calls: server system calls per request)")
		}
		if (anyfail) legend(sym("!") " = some runs FAILED, median of the others; " sym("FAILED") " = every run failed (see the log directory)")
		if (anyna) legend(sym("N/A") " = the program does not implement the workload (exit 3)")
		if (anydash) legend(sym("-") " = no value: the program printed no such metric, or no ratio can be taken")
		print ""
		for (r = 0; r <= nr; r++) {
			line = ""
			for (c = 1; c <= nc; c++) {
				s = T[r, c]
				if (md == "yes") line = line "| " s " "
				else if (c <= 2) line = line sprintf("%-" wid[c] "s  ", s)
				else line = line sprintf("%" wid[c] "s  ", s)
			}
			if (md == "yes") line = line "|"
			sub(/ +$/, "", line); print line
			if (r == 0) {
				line = ""
				for (c = 1; c <= nc; c++) {
					if (md == "yes") line = line (c <= 2 ? "|---" : "|---:")
					else line = line sprintf("%s  ", substr("--------------------------------------------------------------------------------", 1, wid[c]))
				}
				if (md == "yes") line = line "|"
				sub(/ +$/, "", line); print line
			}
		}
	}' "$1"
}

# $1 as a reader would type it in a shell: bare when plain, else quoted (double quotes unless
# that would need escapes), e.g. --workloads "yield echo"
shell_word() {
	if [[ $1 =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then
		printf '%s' "$1"
	elif [[ $1 != *[\"\$\`\\!]* ]]; then
		printf '"%s"' "$1"
	else
		printf "'%s'" "${1//\'/\'\\\'\'}"
	fi
}

# Markdown only: where and how the figures were taken, so that a pasted table says it itself.
print_provenance() {
	local commit cmd arg
	[[ $MARKDOWN == yes ]] || return 0
	commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [[ -n $(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null || true) ]]; then
		commit+=" (with local changes)"
	fi
	cmd="bash bench/compare.sh"
	for arg in "${ORIG_ARGS[@]}"; do cmd+=" $(shell_word "$arg")"; done
	printf 'Measured %s on %s cores (%s), spindle at commit %s%s:\n\n' \
		"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$(uname -sr)" "$commit" \
		"$([[ $HOG -eq 0 ]] || echo ", $HOG busy neighbour process(es)")"
	# shellcheck disable=SC2016 # (Markdown backquotes)
	printf '```\n%s\n```\n\n' "$cmd"
}

# ---------- one comparison ----------

# Runs PHASE_WORKLOADS on the programs of NAMES/CMDS and prints the table; the logs of this
# comparison go to $LOGDIR/$1 (or $LOGDIR itself for an unnamed one), raw results to raw.tsv.
compare_programs() { # phase-name title
	local w run i
	LOGDIR_PHASE=$LOGDIR${1:+/$1}
	mkdir -p "$LOGDIR_PHASE"
	RAW=$LOGDIR_PHASE/raw.tsv
	printf 'workload\trun\tprogram\tmetric\tvalue\tunit\tstatus\tnote\n' >"$RAW"
	check_tools "$PHASE_WORKLOADS"
	echo "compare.sh: ${2:+$2: }programs ${NAMES[*]}; workloads $PHASE_WORKLOADS; $RUNS run(s); logs in $LOGDIR_PHASE" >&2
	for w in $PHASE_WORKLOADS; do
		echo "== $w" >&2
		for run in $(seq "$RUNS"); do
			for i in "${!NAMES[@]}"; do
				case $w in
				echo) run_echo "$run" "$i" ;;
				http) run_http "$run" "$i" ;;
				*) run_cpu "$w" "$run" "$i" ;;
				esac
			done
		done
	done
	echo >&2
	if [[ -n ${2:-} ]]; then
		if [[ $MARKDOWN == yes ]]; then printf '### %s\n\n' "$2"; else printf '== %s\n' "$2"; fi
	fi
	summarize "$RAW"
	echo
	if [[ -n $TSV ]]; then
		if [[ -s $TSV ]]; then tail -n +2 "$RAW" >>"$TSV"; else cp "$RAW" "$TSV"; fi
	fi
}

# The standard comparison: the CPU workloads against the runtimes, echo/http against the
# servers (bench/README.md says why these peers).
run_standard() {
	local half peers title p w
	IN_STANDARD=yes
	for half in cpu net; do
		PHASE_WORKLOADS=""
		for w in $WORKLOADS; do
			if [[ " $NET_WORKLOADS " == *" $w "* ]]; then
				[[ $half == cpu ]] || PHASE_WORKLOADS+="${PHASE_WORKLOADS:+ }$w"
			else
				[[ $half == net ]] || PHASE_WORKLOADS+="${PHASE_WORKLOADS:+ }$w"
			fi
		done
		[[ -n $PHASE_WORKLOADS ]] || continue
		if [[ $half == cpu ]]; then peers=$CPU_PEERS title="CPU workloads"; else peers=$NET_PEERS title="Network workloads"; fi
		NAMES=(spindle) CMDS=("$SPINDLE_BENCH")
		# The servers once per IO backend: "spindle" is the default (io_uring where the kernel
		# offers it), "spindle-epoll" the readiness backend (SPINDLE_IO, docs/USER_GUIDE.md).
		if [[ $half == net ]]; then
			NAMES+=(spindle-epoll)
			CMDS+=("env SPINDLE_IO=epoll $SPINDLE_BENCH")
		fi
		for p in $peers; do
			[[ " ${STD_PEERS[*]} " == *" $p "* ]] || continue
			NAMES+=("$p")
			CMDS+=("$PEERS_OUT/$(peer_program "$p")")
		done
		compare_programs "$half" "$title"
	done
}

main() {
	parse_args "$@"
	trap cleanup EXIT
	trap 'echo "compare.sh: interrupted" >&2; exit 130' INT
	trap 'echo "compare.sh: terminated" >&2; exit 143' TERM HUP

	local standard=no
	[[ ${#NAMES[@]} -gt 0 ]] || standard=yes
	if [[ $standard == yes ]]; then build_standard; fi

	if [[ -z $LOGDIR ]]; then
		LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/spindle-compare.XXXXXX")
	else
		mkdir -p "$LOGDIR"
	fi
	[[ -z $TSV ]] || : >"$TSV"
	NEXT_PORT=$PORT_BASE
	start_hogs
	print_provenance
	if [[ $standard == yes ]]; then
		run_standard
	else
		PHASE_WORKLOADS=$WORKLOADS
		compare_programs "" ""
	fi
	[[ -z $TSV ]] || echo "compare.sh: raw results in $TSV" >&2
	echo "compare.sh: logs in $LOGDIR" >&2
	if [[ $FAILED_ANY -ne 0 || $BUILD_FAILED -ne 0 ]]; then exit 1; fi
	exit 0
}

main "$@"
