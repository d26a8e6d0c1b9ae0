#!/usr/bin/env bash
# run.sh runs the platform (make run). With a Docker engine it is `docker compose up --build`. Without
# one it starts a local PostgreSQL from the installed binaries (data kept in .data/pg), builds the three
# services, runs them against it with the PostgreSQL event store, prints the URLs and a development
# token per role, and stops everything on Ctrl-C.
#
# Settings (environment):
#   COMMAND_PORT (8080), QUERY_PORT (8081), PROJECTOR_PORT (8082)   where the services listen
#   RUN_DATA_DIR (.data)     PostgreSQL's data (pg/), the services' logs (logs/) and binaries (bin/)
#   RUN_BIN_DIR              use the binaries already built there instead of building them
#   AUTH_HMAC_SECRET         the token secret (default: a development secret); AUTH=off turns
#                            authentication off
#   RUN_DOCKER=0             forces the local mode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export AUTH=${AUTH:-on}
export AUTH_HMAC_SECRET=${AUTH_HMAC_SECRET:-dev-only-secret-change-me-0123456789abcdef}

if [[ ${RUN_DOCKER:-1} != 0 ]] && timeout 5 docker info >/dev/null 2>&1; then
	exec docker compose up --build
fi

# shellcheck source=scripts/pg-local.sh
source scripts/pg-local.sh

command_port=${COMMAND_PORT:-8080}
query_port=${QUERY_PORT:-8081}
projector_port=${PROJECTOR_PORT:-8082}
data_dir=$(mkdir -p "${RUN_DATA_DIR:-.data}" && cd "${RUN_DATA_DIR:-.data}" && pwd)
pids=()

stop() {
	trap - EXIT INT TERM
	local pid
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pg_local_stop
	echo "run: stopped"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_LOCAL_DATA_DIR="$data_dir/pg" pg_local_start
base=${PG_LOCAL_URL%%\?*}
base=${base%/*}
if [[ $(psql -XAtq "$PG_LOCAL_URL" -c "SELECT 1 FROM pg_database WHERE datname = 'orderflow'") != 1 ]]; then
	psql -Xq "$PG_LOCAL_URL" -c 'CREATE DATABASE orderflow'
fi
db="$base/orderflow?sslmode=disable"

bin=${RUN_BIN_DIR:-}
if [[ -z $bin ]]; then
	bin=$data_dir/bin
	mkdir -p "$bin"
	echo "run: building the services"
	for svc in command-api projector query-api devtoken; do
		go build -o "$bin/$svc" "./cmd/$svc"
	done
fi

mkdir -p "$data_dir/logs"
start() { # name port
	DATABASE_URL=$db EVENTSTORE_URL=$db HTTP_ADDR="127.0.0.1:$2" "$bin/$1" >>"$data_dir/logs/$1.log" 2>&1 &
	pids+=("$!")
}
start command-api "$command_port"
start projector "$projector_port"
start query-api "$query_port"

for port in "$command_port" "$query_port" "$projector_port"; do
	for _ in $(seq 300); do
		curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
done

cat <<MSG
run: the platform is up (logs in $data_dir/logs, data in $data_dir/pg; Ctrl-C stops everything)
  command API   http://127.0.0.1:$command_port   (OpenAPI: /openapi.json)
  query API     http://127.0.0.1:$query_port     (OpenAPI: /openapi.json)
  projector     http://127.0.0.1:$projector_port     (/metrics, /readyz)
  database      $db
  processes     ${pids[*]} (services), $PG_LOCAL_PID (PostgreSQL)
MSG
if [[ ${AUTH,,} == off ]]; then
	echo "run: authentication is off (AUTH=off)"
else
	echo "run: development tokens (send as 'Authorization: Bearer <token>'):"
	"$bin/devtoken" | sed 's/^/  /'
fi
# Exit (and clean up) as soon as any service dies.
wait -n "${pids[@]}"
echo "run: a service stopped; see $data_dir/logs" >&2
exit 1
