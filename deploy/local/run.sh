#!/usr/bin/env bash
# Run commsops on one machine without containers, the way it runs in a
# cluster: a 3-node nats-server JetStream cluster, two ingests, three
# resolvers and, when K_SINK is set, a forwarder to that HTTP sink, every
# process on 127.0.0.1. Everything it makes (binaries,
# generated nats-server configurations, JetStream data, logs, pid files) goes
# under deploy/local/run/, which git ignores.
#
#   deploy/local/run.sh up               build, start what is not running, wait until ready
#   deploy/local/run.sh status           what runs, and whether it answers (exit 3 if not all)
#   deploy/local/run.sh down             stop everything it started (by pid), ingests first
#   deploy/local/run.sh kill-node N      fault drill: SIGKILL NATS node N (0-2); `up` restarts it
#   deploy/local/run.sh kill-resolver N  fault drill: SIGKILL resolver N (0-2); `up` restarts it
#   deploy/local/run.sh clean            (everything down) delete the data and logs, keep the binaries
#
# Ports: NATS clients 4222-4224, routes 6222-6224, monitoring 8222-8224;
# ingests 8080 and 8082 (operations API 8090 and 8092); resolvers 8081, 8083
# and 8085; forwarder 8087.
# K_SINK=http://127.0.0.1:9000/ deploy/local/run.sh up also starts the
# forwarder (durable "forwarder"), pushing the resolved events to that URL as
# CloudEvents; FORWARDER_SINK_TOKEN and the other FORWARDER_* variables in
# your environment reach it.
# nats-server comes from the PATH when it is 2.12 or newer, else it is built
# from the Go module proxy into deploy/local/run/bin. The ingests run with
# INGEST_AUTH=none: this is for loopback only. Variables already in your
# environment (COMMSOPS_LOG_LEVEL=debug, ...) reach every process.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
run="$here/run"
bin="$run/bin"
nats_server_module="github.com/nats-io/nats-server/v2@v2.15.2"
host=127.0.0.1

nats_client_ports=(4222 4223 4224)
nats_route_ports=(6222 6223 6224)
nats_http_ports=(8222 8223 8224)
ingest_ports=(8080 8082)
ingest_api_ports=(8090 8092)
resolver_ports=(8081 8083 8085)
forwarder_port=8087

nats_names=(nats-0 nats-1 nats-2)
ingest_names=(ingest-0 ingest-1)
resolver_names=(resolver-0 resolver-1 resolver-2)
forwarder_name=forwarder-0

log() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# ---- processes, by pid file ---------------------------------------------

pid_of() { # name -> the pid it was started with, if recorded
  local f="$run/$1.pid"
  [[ -f $f ]] && cat "$f"
}

# ours pid: the process is alive and is one of our binaries (a recycled pid
# that now belongs to something else is never signalled).
ours() {
  local pid=$1 args=""
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
  else
    args="$(ps -p "$pid" -o args= 2>/dev/null || true)"
  fi
  [[ $args == "$bin/"* ]]
}

running() { # name
  local pid
  pid="$(pid_of "$1")" || return 1
  ours "$pid"
}

start() { # name command... (the environment comes from env in the command)
  local name=$1
  shift
  if running "$name"; then
    log "$name already running (pid $(pid_of "$name"))"
    return 0
  fi
  nohup "$@" >>"$run/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
  log "started $name (pid $!), log $run/$name.log"
}

stop() { # name [signal]
  local name=$1 sig=${2:-TERM} pid
  pid="$(pid_of "$name")" || return 0
  if ours "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    # Longer than COMMSOPS_SHUTDOWN_TIMEOUT (20s): the processes drain first.
    local i
    for ((i = 0; i < 300; i++)); do
      ours "$pid" || break
      sleep 0.1
    done
    if ours "$pid"; then
      log "$name (pid $pid) still running after 30s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid, SIG$sig)"
  fi
  rm -f "$run/$name.pid"
}

# ---- probes -------------------------------------------------------------

http_ok() { # port path: 200?
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 2 "http://$host:$1$2" 2>/dev/null
    return
  fi
  (
    exec 3<>"/dev/tcp/$host/$1" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$host" >&3
    read -r -t 2 _ status _ <&3 || exit 1
    [[ $status == 200 ]]
  ) 2>/dev/null
}

port_busy() { # port: something listens there
  (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

wait_for() { # what port path seconds
  local what=$1 port=$2 path=$3 secs=$4 i
  for ((i = 0; i < secs * 2; i++)); do
    if http_ok "$port" "$path"; then
      log "$what ready on $host:$port"
      return 0
    fi
    sleep 0.5
  done
  die "$what not ready on $host:$port$path after ${secs}s (see its log under $run)"
}

# ---- build --------------------------------------------------------------

nats_server_recent() { # binary: nats-server 2.12 or newer (commsops needs message schedules)
  local v major minor
  v="$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')"
  [[ -n $v ]] || return 1
  read -r major minor <<<"$v"
  ((major > 2 || (major == 2 && minor >= 12)))
}

build() {
  mkdir -p "$bin"
  command -v go >/dev/null 2>&1 || die "go is not on the PATH"
  if [[ ! -x $bin/nats-server ]] || ! nats_server_recent "$bin/nats-server"; then
    local path_server
    path_server="$(command -v nats-server 2>/dev/null || true)"
    if [[ -n $path_server ]] && nats_server_recent "$path_server"; then
      ln -sf "$path_server" "$bin/nats-server"
      log "using $path_server"
    else
      log "building $nats_server_module from the Go module proxy into $bin"
      GOBIN="$bin" go install "$nats_server_module"
    fi
  fi
  local pkgs=(./cmd/ingest ./cmd/resolver)
  [[ -d $root/cmd/opsctl ]] && pkgs+=(./cmd/opsctl)
  [[ -d $root/cmd/forwarder ]] && pkgs+=(./cmd/forwarder)
  for p in ./cmd/ingest ./cmd/resolver; do
    [[ -d $root/$p ]] || die "$root/$p does not exist yet"
  done
  log "building ${pkgs[*]} into $bin"
  (cd "$root" && go build -o "$bin/" "${pkgs[@]}")
}

# ---- the cluster --------------------------------------------------------

nats_url() {
  local urls=() p
  for p in "${nats_client_ports[@]}"; do urls+=("nats://$host:$p"); done
  (IFS=,; printf '%s' "${urls[*]}")
}

write_nats_conf() { # index
  local i=$1 routes=() p
  for p in "${nats_route_ports[@]}"; do routes+=("nats://$host:$p"); done
  mkdir -p "$run/data/${nats_names[$i]}"
  cat >"$run/${nats_names[$i]}.conf" <<CONF
# Generated by deploy/local/run.sh: node $i of the local 3-node cluster.
server_name: ${nats_names[$i]}
listen: $host:${nats_client_ports[$i]}
http: $host:${nats_http_ports[$i]}
jetstream {
  store_dir: "$run/data/${nats_names[$i]}"
  max_memory_store: 256MB
  max_file_store: 4GB
}
cluster {
  name: commsops-local
  listen: $host:${nats_route_ports[$i]}
  routes: [
    $(printf '%s\n    ' "${routes[@]}")
  ]
}
CONF
}

check_ports() {
  local busy=() i
  for i in 0 1 2; do
    running "${nats_names[$i]}" && continue
    for p in "${nats_client_ports[$i]}" "${nats_route_ports[$i]}" "${nats_http_ports[$i]}"; do
      port_busy "$p" && busy+=("$p (${nats_names[$i]})")
    done
  done
  for i in 0 1; do
    running "${ingest_names[$i]}" || ! port_busy "${ingest_ports[$i]}" || busy+=("${ingest_ports[$i]} (${ingest_names[$i]})")
    running "${ingest_names[$i]}" || ! port_busy "${ingest_api_ports[$i]}" || busy+=("${ingest_api_ports[$i]} (${ingest_names[$i]} API)")
  done
  for i in 0 1 2; do
    running "${resolver_names[$i]}" || ! port_busy "${resolver_ports[$i]}" || busy+=("${resolver_ports[$i]} (${resolver_names[$i]})")
  done
  if [[ -n ${K_SINK:-} ]]; then
    running "$forwarder_name" || ! port_busy "$forwarder_port" || busy+=("$forwarder_port ($forwarder_name)")
  fi
  ((${#busy[@]} == 0)) || die "ports in use by something this script did not start: ${busy[*]}"
}

up() {
  mkdir -p "$run"
  build
  check_ports
  local i url log_format="${COMMSOPS_LOG_FORMAT:-text}"
  url="$(nats_url)"
  for i in 0 1 2; do
    write_nats_conf "$i"
    start "${nats_names[$i]}" "$bin/nats-server" -c "$run/${nats_names[$i]}.conf"
  done
  for i in 0 1 2; do
    wait_for "${nats_names[$i]}" "${nats_http_ports[$i]}" "/healthz?js-enabled-only=true" 30
  done
  for i in 0 1; do
    start "${ingest_names[$i]}" env NATS_URL="$url" COMMSOPS_REPLICAS=3 COMMSOPS_LOG_FORMAT="$log_format" INGEST_AUTH=none \
      INGEST_ADDR="$host:${ingest_ports[$i]}" INGEST_API_ADDR="$host:${ingest_api_ports[$i]}" "$bin/ingest"
  done
  for i in 0 1 2; do
    start "${resolver_names[$i]}" env NATS_URL="$url" COMMSOPS_REPLICAS=3 COMMSOPS_LOG_FORMAT="$log_format" \
      RESOLVER_ADDR="$host:${resolver_ports[$i]}" RESOLVER_WORKER_ID="${resolver_names[$i]}" "$bin/resolver"
  done
  # The first process creates the R3 streams; the others retry meanwhile.
  for i in 0 1; do wait_for "${ingest_names[$i]}" "${ingest_ports[$i]}" /readyz 150; done
  for i in 0 1 2; do wait_for "${resolver_names[$i]}" "${resolver_ports[$i]}" /readyz 150; done
  if [[ -n ${K_SINK:-} ]]; then
    [[ -x $bin/forwarder ]] || die "K_SINK is set but $bin/forwarder was not built"
    start "$forwarder_name" env NATS_URL="$url" COMMSOPS_REPLICAS=3 COMMSOPS_LOG_FORMAT="$log_format" \
      FORWARDER_ADDR="$host:$forwarder_port" "$bin/forwarder"
    wait_for "$forwarder_name" "$forwarder_port" /readyz 150
  fi
  log ""
  log "NATS_URL=$url"
  log "ingest:    http://$host:${ingest_ports[0]}  http://$host:${ingest_ports[1]}  (/v1/notifications, /v1/responses)"
  log "ops API:   http://$host:${ingest_api_ports[0]}  http://$host:${ingest_api_ports[1]}  (/v1/operations/{clientContext}, /events)"
  log "resolvers: http://$host:${resolver_ports[0]}  http://$host:${resolver_ports[1]}  http://$host:${resolver_ports[2]}  (/healthz, /readyz, /metrics)"
  if running "$forwarder_name"; then
    log "forwarder: http://$host:$forwarder_port  (/healthz, /readyz, /metrics), pushing to K_SINK"
  fi
  if [[ -x $bin/opsctl ]]; then
    log "try:       NATS_URL=$url $bin/opsctl demo -url http://$host:${ingest_ports[0]}"
    log "           NATS_URL=$url $bin/opsctl replay -since 1"
  fi
}

status() {
  local all=0 i
  report() { # name port path
    if running "$1"; then
      if http_ok "$2" "$3"; then
        log "$1 running (pid $(pid_of "$1")), $host:$2 ready"
      else
        log "$1 running (pid $(pid_of "$1")), $host:$2 NOT READY"
        all=3
      fi
    else
      log "$1 stopped"
      all=3
    fi
  }
  for i in 0 1 2; do report "${nats_names[$i]}" "${nats_http_ports[$i]}" "/healthz?js-enabled-only=true"; done
  for i in 0 1; do report "${ingest_names[$i]}" "${ingest_ports[$i]}" /readyz; done
  for i in 0 1 2; do report "${resolver_names[$i]}" "${resolver_ports[$i]}" /readyz; done
  # The forwarder runs only when it was started with K_SINK.
  if [[ -f $run/$forwarder_name.pid ]]; then report "$forwarder_name" "$forwarder_port" /readyz; fi
  return "$all"
}

down() {
  # Ingests first (nothing new comes in; what they acknowledged is stored),
  # then the resolvers (each drains and hands its partitions over), then the
  # forwarder (it pushes what the resolvers published), NATS last.
  local n
  for n in "${ingest_names[@]}" "${resolver_names[@]}" "$forwarder_name" "${nats_names[@]}"; do stop "$n"; done
}

clean() {
  local n
  for n in "${nats_names[@]}" "${ingest_names[@]}" "${resolver_names[@]}" "$forwarder_name"; do
    running "$n" && die "$n is running: run.sh down first"
  done
  rm -rf "$run/data" "$run"/*.log "$run"/*.conf "$run"/*.pid
  log "deleted the data, logs and configurations under $run (binaries kept)"
}

index() { # value max
  if ! [[ $1 =~ ^[0-9]+$ ]] || (($1 > $2)); then
    die "want an index from 0 to $2, got '$1'"
  fi
  printf '%s' "$1"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  clean) clean ;;
  kill-node) stop "${nats_names[$(index "${2:-}" 2)]}" KILL ;;
  kill-resolver) stop "${resolver_names[$(index "${2:-}" 2)]}" KILL ;;
  *)
    echo "usage: $0 up|status|down|kill-node N|kill-resolver N|clean" >&2
    exit 2
    ;;
esac
