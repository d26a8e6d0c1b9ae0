#!/usr/bin/env bash
# bench.sh is `make bench`: it starts a throwaway PostgreSQL server the way the tests do
# (scripts/pg-local.sh), builds the three services and cmd/bench without the race detector, and runs
# the benchmark against that server. Arguments go to cmd/bench (make bench ARGS=--quick).
#
# Server settings: PostgreSQL's stock durability (fsync, synchronous_commit and full_page_writes on,
# PG_LOCAL_DURABLE=1), for the baseline and our figures alike, since both run on the same server in the
# same run; the issue's targets were measured that way, and no one runs a store of record without it.
# shared_buffers=128MB, max_connections=300. make bench PG_LOCAL_DURABLE=0 runs on the tests'
# throwaway settings instead (fsync=off, synchronous_commit=off, full_page_writes=off): CPU-bound, where
# the Go side weighs more. The settings are printed with the results.
#
# Everything runs on 127.0.0.1 and stops by itself; the services are stopped by PID by cmd/bench and
# the server by pg_local_stop when this script ends, however it ends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=$(mktemp -d "${TMPDIR:-/tmp}/orderflow-bench.XXXXXX")
export PG_LOCAL_DURABLE=${PG_LOCAL_DURABLE:-1}
# shellcheck source=scripts/pg-local.sh
source scripts/pg-local.sh
trap 'rc=$?; pg_local_stop; rm -rf "$bin"; exit "$rc"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench.sh: building into $bin"
go build -o "$bin/" ./cmd/command-api ./cmd/projector ./cmd/query-api ./cmd/bench

pg_local_start
echo "bench.sh: PostgreSQL $PG_LOCAL_VERSION (pid $PG_LOCAL_PID) at $PG_LOCAL_URL"
pgbench=$(dirname "$(readlink -f "$(find /usr/lib/postgresql -path '*/bin/pgbench' | sort -V | tail -n 1)")")/pgbench

# Not exec: the EXIT trap must run to stop the server.
"$bin/bench" --database-url "$PG_LOCAL_URL" --bin-dir "$bin" --pgbench "$pgbench" --logs "$bin/logs" "$@"
