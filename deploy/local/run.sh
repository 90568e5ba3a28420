#!/usr/bin/env bash
# Run commsops on one machine without containers, for realistic local runs
# and fault drills: a 3-node nats-server JetStream cluster, two ingests and
# three resolvers, all on 127.0.0.1. Everything it starts is recorded in
# deploy/local/run/ (logs, pids, configs) and stopped by `run.sh down`.
#
#   deploy/local/run.sh up       build, start everything, print the endpoints
#   deploy/local/run.sh status   what runs
#   deploy/local/run.sh down     stop everything it started
#   deploy/local/run.sh kill-node N / kill-resolver N   fault drills (SIGKILL)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$here/run"
bin="$run/bin"
NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-v2.15.2}"

nats_ports=(4222 4223 4224)
route_ports=(6222 6223 6224)
ingest_ports=(8080 8082)
resolver_ports=(8081 8083 8085)

build() {
  mkdir -p "$bin"
  if command -v nats-server >/dev/null 2>&1; then
    ln -sf "$(command -v nats-server)" "$bin/nats-server"
  elif [ ! -x "$bin/nats-server" ]; then
    echo "building nats-server $NATS_SERVER_VERSION from the Go module proxy"
    GOBIN="$bin" go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
  fi
  (cd "$root" && go build -o "$bin/" ./cmd/ingest ./cmd/resolver ./cmd/opsctl)
}

start() { # name, then the command; records the pid
  local name=$1; shift
  "$@" >"$run/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
  echo "started $name (pid $!)"
}

nats_urls() {
  local IFS=,
  local urls=()
  for p in "${nats_ports[@]}"; do urls+=("nats://127.0.0.1:$p"); done
  echo "${urls[*]}"
}

start_node() { # index
  local i=$1 routes=""
  for r in "${route_ports[@]}"; do routes+="nats://127.0.0.1:$r,"; done
  mkdir -p "$run/n$i"
  cat >"$run/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${nats_ports[$i]}
jetstream { store_dir: "$run/n$i" }
cluster { name: local, listen: 127.0.0.1:${route_ports[$i]}, routes: [${routes%,}] }
CONF
  start "nats-$i" "$bin/nats-server" -c "$run/n$i.conf"
}

up() {
  mkdir -p "$run"
  build
  for i in 0 1 2; do start_node "$i"; done
  sleep 2
  export NATS_URL
  NATS_URL="$(nats_urls)"
  export COMMSOPS_REPLICAS=3 INGEST_AUTH=none COMMSOPS_LOG_FORMAT=text
  for i in 0 1; do INGEST_ADDR="127.0.0.1:${ingest_ports[$i]}" start "ingest-$i" "$bin/ingest"; done
  for i in 0 1 2; do RESOLVER_ADDR="127.0.0.1:${resolver_ports[$i]}" RESOLVER_WORKER_ID="resolver-$i" start "resolver-$i" "$bin/resolver"; done
  echo
  echo "NATS:      $NATS_URL"
  echo "ingest:    http://127.0.0.1:${ingest_ports[0]} http://127.0.0.1:${ingest_ports[1]}"
  echo "resolvers: :${resolver_ports[*]} (/healthz /readyz /metrics)"
  echo "try:       NATS_URL=$NATS_URL $bin/opsctl demo && NATS_URL=$NATS_URL $bin/opsctl replay -since 1"
}

status() {
  shopt -s nullglob
  for f in "$run"/*.pid; do
    local name pid
    name=$(basename "$f" .pid); pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then echo "$name running (pid $pid)"; else echo "$name stopped"; fi
  done
}

stop() { # name [signal]
  local f="$run/$1.pid" sig=${2:-TERM}
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  echo "stopped $1"
}

down() {
  # Drain order: ingests first (nothing new comes in), then resolvers, then NATS.
  for i in 0 1; do stop "ingest-$i"; done
  for i in 0 1 2; do stop "resolver-$i"; done
  for i in 0 1 2; do stop "nats-$i"; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  kill-node) stop "nats-${2:?node index}" KILL ;;
  kill-resolver) stop "resolver-${2:?resolver index}" KILL ;;
  *) echo "usage: $0 up|down|status|kill-node N|kill-resolver N" >&2; exit 2 ;;
esac
