#!/usr/bin/env bash
# build_peers.sh: builds the measuring tools and the peers of bench/README.md.
#
#   bench/build_peers.sh [--no-install] [peer ...]
#
#   bench/build_peers.sh              # echo_load and every peer under bench/peers/
#   bench/build_peers.sh epoll go     # echo_load and only these peers
#
# Peers: the directories of bench/peers/ (boost_fiber epoll go nginx tokio). Everything goes to
# ${PEERS_OUT:-<repo>/build/peers}: the programs are named epoll-bench, go-bench, tokio-bench,
# boost-fiber-bench, nginx-bench (a link to peers/nginx/run.sh), and echo_load.
#
# First the Debian 12 packages the selected peers and the load tools need are installed when
# missing (as root; apt-get), only those: gcc and wrk always, golang-go for go,
# libboost-fiber1.81-dev for boost_fiber, cargo + librust-tokio-dev + librust-async-channel-dev
# for tokio, nginx-light for nginx. --no-install (or not being root) only names what is missing.
#
# A peer whose build fails does not stop the others (one broken toolchain should not cost the
# whole comparison); the summary names it and the exit status is 1. Usage error: exit 2.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

# usage: the header; with a message (a usage error) on stderr and exit 2
usage() {
	if [[ $# -eq 0 ]]; then
		sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
	fi
	sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
	echo "build_peers.sh: $*" >&2
	exit 2
}

# The peers this checkout has: one directory with a build.sh each.
all_peers() {
	local script
	for script in "$here"/peers/*/build.sh; do
		[[ -f $script ]] && basename "$(dirname "$script")"
	done
	return 0
}

# Debian packages a peer needs, one per line (the load tools are the pseudo-peer "tools").
packages_for() {
	case $1 in
	tools) printf '%s\n' gcc wrk ;;
	epoll) printf '%s\n' gcc ;;
	go) printf '%s\n' golang-go ;;
	boost_fiber) printf '%s\n' g++ libboost-fiber1.81-dev libboost-context1.81-dev ;;
	tokio)
		# A rustup toolchain already on the machine builds the Debian crates just as well;
		# Debian's cargo (rustc 1.63) is the one the crates were packaged for.
		if ! command -v cargo >/dev/null 2>&1 && [[ ! -x ${HOME:-/root}/.cargo/bin/cargo ]]; then
			echo cargo
		fi
		printf '%s\n' librust-tokio-dev librust-async-channel-dev
		;;
	nginx) printf '%s\n' nginx-light ;;
	esac
}

is_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# Installs the missing packages among "$@" when root and allowed; otherwise names them. Never
# fails: a peer that then lacks its toolchain fails its own build with a precise message.
install_missing() {
	local -a missing=()
	local p
	for p in "$@"; do
		is_installed "$p" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $INSTALL == yes && $(id -u) == 0 ]]; then
		echo "build_peers.sh: installing ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
			echo "build_peers.sh: apt-get install failed for: ${missing[*]}" >&2
		fi
	else
		echo "build_peers.sh: missing Debian packages: ${missing[*]} (apt-get install them, or run as root)" >&2
	fi
	return 0
}

build_echo_load() {
	# The load generator for the echo workload; a single C11 file.
	"${CC:-gcc}" -std=c11 -O2 -Wall -Wextra -pthread -o "$PEERS_OUT/echo_load.tmp" "$here/tools/echo_load.c" &&
		mv "$PEERS_OUT/echo_load.tmp" "$PEERS_OUT/echo_load"
}

main() {
	INSTALL=yes
	local -a wanted=()
	local known name
	known=$(all_peers | tr '\n' ' ')
	while [[ $# -gt 0 ]]; do
		case $1 in
		--no-install) INSTALL=no ;;
		-h | --help) usage ;;
		-*) usage "unknown option $1" ;;
		*)
			[[ " $known" == *" $1 "* ]] || usage "no peer '$1' (known: ${known% })"
			wanted+=("$1")
			;;
		esac
		shift
	done
	((${#wanted[@]})) || mapfile -t wanted < <(all_peers)

	local -a pkgs=()
	mapfile -t pkgs < <(for name in tools "${wanted[@]}"; do packages_for "$name"; done | sort -u)
	install_missing "${pkgs[@]}"

	PEERS_OUT=${PEERS_OUT:-$repo/build/peers}
	mkdir -p "$PEERS_OUT"
	PEERS_OUT=$(cd "$PEERS_OUT" && pwd)
	export PEERS_OUT

	local -a ok=() failed=()
	echo "== echo_load" >&2
	if build_echo_load; then ok+=(echo_load); else failed+=(echo_load); fi
	for name in "${wanted[@]}"; do
		echo "== $name" >&2
		# bash explicitly: a checkout that lost the executable bits still builds
		if bash "$here/peers/$name/build.sh"; then
			ok+=("$name")
		else
			echo "== $name: build.sh failed" >&2
			failed+=("$name")
		fi
	done

	echo "built into $PEERS_OUT: ${ok[*]:-nothing}" >&2
	if ((${#failed[@]})); then
		echo "FAILED: ${failed[*]}" >&2
		exit 1
	fi
}

main "$@"
