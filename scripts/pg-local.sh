#!/usr/bin/env bash
# pg-local.sh starts a private PostgreSQL server from the machine's own binaries, for tests and local runs
# where no Docker engine is available.
#
#   source scripts/pg-local.sh
#   pg_local_start   # exports PG_LOCAL_URL, PG_LOCAL_PID, PG_LOCAL_DIR, PG_LOCAL_DATA, PG_LOCAL_LOG,
#                    # PG_LOCAL_PORT, PG_LOCAL_VERSION
#   ...
#   pg_local_stop    # stops the server by PID and removes PG_LOCAL_DIR
#
# PG_LOCAL_DATA_DIR=path keeps the cluster in that directory across runs (initdb only when it is empty);
# pg_local_stop then leaves it in place. Without it the cluster lives in PG_LOCAL_DIR and is thrown away.
#
# Run directly (bash scripts/pg-local.sh), it starts a server, prints its URL and stops it on Ctrl-C.
#
# Root cannot run initdb or postgres, so as root both run as the `postgres` user via runuser. The server
# is tuned for throwaway data (fsync off etc.): never point PG_LOCAL_DATA_DIR at data you care about.
# PG_LOCAL_DURABLE=1 keeps PostgreSQL's stock durability instead (fsync, synchronous_commit and
# full_page_writes on), for benchmarks whose figures should hold for a server that keeps its commits.
#
# The functions keep to `set -euo pipefail` but set no shell options and install no traps: that is the
# caller's business.

_pg_local_log() { echo "pg-local: $*" >&2; }

# _pg_local_bindir prints the directory holding initdb, postgres and pg_isready: the version wanted ($1,
# if any), else the newest /usr/lib/postgresql/*/bin, else the one initdb on PATH lives in.
_pg_local_bindir() {
	local want=${1:-} dir
	if [[ -n $want && -x /usr/lib/postgresql/$want/bin/postgres ]]; then
		echo "/usr/lib/postgresql/$want/bin"
		return 0
	fi
	dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -z $dir ]] && command -v initdb >/dev/null 2>&1; then
		dir=$(dirname "$(readlink -f "$(command -v initdb)")")
	fi
	[[ -n $dir && -x $dir/initdb && -x $dir/postgres && -x $dir/pg_isready ]] || return 1
	echo "$dir"
}

# _pg_local_install installs Debian's postgresql package. Its postinst may create and start a "main"
# cluster on 5432; we never use it, and pick our own port, so the two do not collide.
_pg_local_install() {
	if ((EUID != 0)); then
		_pg_local_log "no PostgreSQL binaries found; install them (apt-get install postgresql) or run as root"
		return 1
	fi
	command -v apt-get >/dev/null 2>&1 || {
		_pg_local_log "no PostgreSQL binaries found and no apt-get to install them"
		return 1
	}
	_pg_local_log "installing PostgreSQL (apt-get install postgresql)"
	if [[ -z ${_PG_LOCAL_APT_UPDATED:-} ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		_PG_LOCAL_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

# _pg_local_as_owner runs a command as the user owning the cluster: postgres when we are root.
_pg_local_as_owner() {
	if ((EUID == 0)); then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# _pg_local_port_free succeeds when nothing accepts connections on 127.0.0.1:$1.
_pg_local_port_free() {
	! (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null
}

# _pg_local_postmaster prints the PID of the postmaster under the background job $1 (a subshell, then
# runuser when root). It does not trust postmaster.pid: a kept data directory may hold a stale one
# naming a PID that now belongs to another process.
_pg_local_postmaster() {
	local p=$1 i
	for i in 1 2 3; do
		[[ $(ps -o comm= -p "$p" 2>/dev/null || true) == postgres ]] && { echo "$p"; return 0; }
		p=$(ps -o pid= --ppid "$p" 2>/dev/null | awk 'NR == 1 {print $1}' || true)
		[[ -n $p ]] || return 1
	done
	return 1
}

pg_local_start() {
	# The _PG_LOCAL_* state is not exported: a child shell that inherits PG_LOCAL_* must neither reuse
	# nor stop its parent's server.
	if [[ -n ${_PG_LOCAL_DIR:-} ]] && kill -0 "${PG_LOCAL_PID:-}" 2>/dev/null; then
		_pg_local_log "already running (pid $PG_LOCAL_PID)"
		return 0
	fi
	unset PG_LOCAL_URL PG_LOCAL_PID PG_LOCAL_DIR PG_LOCAL_DATA PG_LOCAL_LOG PG_LOCAL_PORT PG_LOCAL_VERSION

	local data=${PG_LOCAL_DATA_DIR:-} version="" bindir
	if [[ -n $data && -f $data/PG_VERSION ]]; then
		version=$(<"$data/PG_VERSION") # a kept cluster needs the major version that created it
	fi
	if ! bindir=$(_pg_local_bindir "$version"); then
		_pg_local_install || return 1
		bindir=$(_pg_local_bindir "$version") || {
			_pg_local_log "PostgreSQL binaries still not found after installing"
			return 1
		}
	fi
	if [[ -n $version && $("$bindir/postgres" --version) != *" $version."* ]]; then
		_pg_local_log "$data was created by PostgreSQL $version; installed: $("$bindir/postgres" --version)"
		return 1
	fi

	# dir holds the socket, the log and, unless PG_LOCAL_DATA_DIR is set, the data. From here on
	# pg_local_stop cleans up, also when a signal interrupts the start.
	local dir
	dir=$(mktemp -d "${TMPDIR:-/tmp}/pg-local.XXXXXX")
	_PG_LOCAL_DIR=$dir _PG_LOCAL_RUNNER=""
	chmod 0755 "$dir" # postgres (when we are root) must reach the socket directory inside it
	mkdir -m 0700 "$dir/sock"
	if [[ -z $data ]]; then
		data=$dir/data
		mkdir -m 0700 "$data"
	else
		mkdir -p "$data"
		data=$(cd "$data" && pwd)
		chmod 0700 "$data"
	fi
	if ((EUID == 0)); then
		chown postgres: "$dir/sock"
		[[ $(stat -c %U "$data") == postgres ]] || chown -R postgres: "$data"
	fi

	if [[ ! -f $data/PG_VERSION ]]; then
		if [[ -n $(ls -A "$data") ]]; then
			_pg_local_log "$data is neither empty nor a PostgreSQL data directory"
			pg_local_stop
			return 1
		fi
		# C.UTF-8 sorts by code point on every machine, so results do not depend on the host's locales.
		if ! _pg_local_as_owner "$bindir/initdb" -D "$data" --auth=trust -U postgres --encoding=UTF8 \
			--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
			_pg_local_log "initdb failed:"
			cat "$dir/initdb.log" >&2
			pg_local_stop
			return 1
		fi
	fi

	# Another server (or a parallel run of this script) may take the port between our check and the
	# bind, so a failed bind moves on to the next port instead of failing the run.
	local log=$dir/server.log port=54319 pid="" deadline durability=()
	[[ ${PG_LOCAL_DURABLE:-} == 1 ]] || durability=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
	while [[ -z $pid ]]; do
		port=$((port + 1))
		while ((port < 54420)) && ! _pg_local_port_free "$port"; do port=$((port + 1)); done
		if ((port >= 54420)); then
			_pg_local_log "no free port in 54320-54419"
			pg_local_stop
			return 1
		fi
		# setsid: a Ctrl-C in the terminal goes to the foreground process group; the server must not
		# stop before the services using it have shut down. The caller's trap stops it by PID.
		_pg_local_as_owner setsid "$bindir/postgres" -D "$data" -k "$dir/sock" -h 127.0.0.1 -p "$port" \
			"${durability[@]}" -c max_connections=300 -c shared_buffers=128MB \
			>"$log" 2>&1 </dev/null &
		_PG_LOCAL_RUNNER=$!
		deadline=$((SECONDS + 30))
		while kill -0 "$_PG_LOCAL_RUNNER" 2>/dev/null && ((SECONDS < deadline)); do
			# The socket directory is ours alone, so an answer here comes from our server.
			if "$bindir/pg_isready" -q -h "$dir/sock" -p "$port" -U postgres -d postgres; then
				pid=$(_pg_local_postmaster "$_PG_LOCAL_RUNNER") && break
			fi
			sleep 0.2
		done
		[[ -z $pid ]] || break

		if kill -0 "$_PG_LOCAL_RUNNER" 2>/dev/null; then
			_pg_local_log "server did not become ready within 30s; log:"
		elif grep -q "Address already in use" "$log"; then
			wait "$_PG_LOCAL_RUNNER" 2>/dev/null || true
			continue
		else
			_pg_local_log "server failed to start; log:"
		fi
		cat "$log" >&2
		pg_local_stop
		return 1
	done

	PG_LOCAL_VERSION=$("$bindir/postgres" --version | awk '{print $3}')
	export PG_LOCAL_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	export PG_LOCAL_PID=$pid PG_LOCAL_DIR=$dir PG_LOCAL_DATA=$data PG_LOCAL_LOG=$log PG_LOCAL_PORT=$port
	export PG_LOCAL_VERSION
}

# pg_local_stop stops the server started by pg_local_start in this shell: SIGINT (fast shutdown: abort
# transactions, disconnect clients), SIGKILL if it has not exited within 30 s. It then removes
# PG_LOCAL_DIR, and the data with it unless PG_LOCAL_DATA_DIR asked to keep it. Safe to call twice, or
# without a server; a server whose PG_LOCAL_* this shell only inherited is left alone.
pg_local_stop() {
	[[ -n ${_PG_LOCAL_DIR:-} ]] || return 0
	local pid=${PG_LOCAL_PID:-} deadline
	if [[ -z $pid && -n ${_PG_LOCAL_RUNNER:-} ]]; then
		pid=$(_pg_local_postmaster "$_PG_LOCAL_RUNNER" || true) # a start that failed or was interrupted
	fi
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			_pg_local_log "server $pid ignored SIGINT for 30s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			# Backends notice their postmaster's death and exit on their own; give them a moment so the
			# data directory is not removed under them.
			sleep 1
		fi
	fi
	if [[ -n ${_PG_LOCAL_RUNNER:-} ]]; then
		wait "$_PG_LOCAL_RUNNER" 2>/dev/null || true
	fi
	rm -rf "$_PG_LOCAL_DIR"
	unset PG_LOCAL_URL PG_LOCAL_PID PG_LOCAL_DIR PG_LOCAL_DATA PG_LOCAL_LOG PG_LOCAL_PORT PG_LOCAL_VERSION \
		_PG_LOCAL_DIR _PG_LOCAL_RUNNER
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	trap pg_local_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pg_local_start
	echo "PostgreSQL $PG_LOCAL_VERSION (pid $PG_LOCAL_PID) at $PG_LOCAL_URL; Ctrl-C stops it"
	while kill -0 "$PG_LOCAL_PID" 2>/dev/null; do sleep 1; done
fi
