#!/usr/bin/env bash
# test.sh is the project's test command (`make test`). It decides where integration tests find
# PostgreSQL, then runs `go test -race` with any extra arguments:
#
#   1. TEST_DATABASE_URL set: that server (internal/pgtest creates one database per test in it);
#   2. else a Docker engine answers: nothing to do, internal/pgtest starts a container per test binary;
#   3. else a throwaway server from the local PostgreSQL binaries (scripts/pg-local.sh), installed from
#      Debian's packages when missing, always stopped and removed when this script ends.
#
# Arguments are passed to go test. Package patterns (arguments starting with ./ or ../) replace the
# default ./...; give flag values with "=" (-coverprofile=c.out) so they are not taken for packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

args=("$@")
have_pkgs=false
for a in "$@"; do
	case $a in ./* | ../* | .) have_pkgs=true ;; esac
done
$have_pkgs || args=(./... "$@")

if [[ -n ${TEST_DATABASE_URL:-} ]]; then
	echo "test.sh: database: TEST_DATABASE_URL from the environment"
elif command -v docker >/dev/null 2>&1 && timeout 5 docker info >/dev/null 2>&1; then
	echo "test.sh: database: testcontainers (the Docker engine answers)"
else
	# shellcheck source=scripts/pg-local.sh
	source scripts/pg-local.sh
	# EXIT covers every way out, set -e included; INT and TERM become exits so that EXIT runs for them.
	trap 'rc=$?; pg_local_stop; exit "$rc"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pg_local_start
	export TEST_DATABASE_URL=$PG_LOCAL_URL
	echo "test.sh: database: local PostgreSQL $PG_LOCAL_VERSION (pid $PG_LOCAL_PID, $PG_LOCAL_URL); no Docker engine"
fi

# go test runs in its own process group (set -m), so that a signal to this script can end it together
# with the compilers and test binaries it started (SIGTERM: go test itself shrugs off SIGINT while it
# builds), and the script waits for them before the server goes away. In the foreground, go test would
# hold our trap back until it finished on its own. The traps are set first so no signal falls between.
sig=0 go_pid=""
trap 'sig=130; [[ -z $go_pid ]] || kill -TERM -- "-$go_pid" 2>/dev/null || true' INT
trap 'sig=143; [[ -z $go_pid ]] || kill -TERM -- "-$go_pid" 2>/dev/null || true' TERM
set -m
go test -race -count=1 -timeout 20m "${args[@]}" &
go_pid=$!
set +m
((sig == 0)) || kill -TERM -- "-$go_pid" 2>/dev/null || true
rc=0
while :; do
	# A trapped signal makes wait return early, while go test may still be ending.
	wait "$go_pid" && rc=0 || rc=$?
	kill -0 "$go_pid" 2>/dev/null || break
done
((sig == 0)) || rc=$sig
exit "$rc"
