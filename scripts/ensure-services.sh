#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, user postgres, trust) and RabbitMQ (127.0.0.1:5672,
# guest/guest) are running, installing them from Debian's packages on a machine that lacks them.
# The TLS tests (testkit::tls) also start servers of their own from the same packages' binaries
# (initdb and pg_ctl as the postgres user, through runuser; rabbitmq-server), so the packages are
# installed even where something else already listens on 5432 or 5672.
# Used by .ci/run and scripts/stack.sh.
set -euo pipefail

log() { printf '[ensure-services] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port=$1 name=$2 tries=${3:-120}
  for _ in $(seq "$tries"); do port_open "$port" && return 0; sleep 1; done
  log "$name did not open port $port"; return 1
}
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! port_open 5432; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests and the local stack connect as postgres over TCP without a password.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL 60
fi

# Every quorum queue keeps files open: with Debian's default of 1024 descriptors a few hundred test
# queues (each test declares its own, with a dead-letter queue) exhaust them, and the broker then
# stops answering new connections for minutes. rabbitmq-server starts through `su`, which resets
# limits, so the limit is raised where its environment file is sourced; a running broker still on
# the low limit is restarted.
rabbit_env=/etc/rabbitmq/rabbitmq-env.conf
raise_rabbit_fds() {
  [ -d /etc/rabbitmq ] || return 0
  grep -q '^ulimit -n' "$rabbit_env" 2>/dev/null || echo 'ulimit -n 20000 2>/dev/null || true' >> "$rabbit_env"
}
rabbit_soft_fds() {
  local pid
  pid=$(pgrep -u rabbitmq -f 'beam.smp.*rabbit' | head -n 1) || return 1
  awk '/Max open files/ {print $4}' "/proc/$pid/limits"
}
# Debian's 3.10 does not apply a ulimit in rabbitmq-env.conf to the node it starts (seen: soft limit
# still 1024), so the node is started here as its user with the limit raised in that same shell.
start_rabbit() {
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    su rabbitmq -s /bin/sh -c 'ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; cd /var/lib/rabbitmq && /usr/lib/rabbitmq/bin/rabbitmq-server -detached' >/dev/null 2>&1 || true
  else
    rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
}
if port_open 5672 && command -v rabbitmqctl >/dev/null 2>&1; then
  fds=$(rabbit_soft_fds || echo 0)
  if [ "${fds:-0}" -lt 4096 ] && [ "${fds:-0}" -gt 0 ]; then
    log "RabbitMQ runs with $fds file descriptors; restarting it with more"
    raise_rabbit_fds
    rabbitmqctl stop >/dev/null 2>&1 || pkill -u rabbitmq -f 'beam.smp.*rabbit' || true
    for _ in $(seq 30); do port_open 5672 || break; sleep 1; done
  fi
fi

if ! port_open 5672; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    log "installing RabbitMQ"
    apt_install rabbitmq-server
  fi
  raise_rabbit_fds
  log "starting RabbitMQ"
  start_rabbit
  wait_port 5672 RabbitMQ 120
fi

# The TLS tests' own servers: the server binaries, runuser (util-linux) and timeout (coreutils).
# Installed without starting anything: the ports above are served already.
no_start() { # apt_install, with Debian's invoke-rc.d told not to start what it installs
  local policy=/usr/sbin/policy-rc.d had=""
  [ -e "$policy" ] && had=1
  [ -n "$had" ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  apt_install "$@" || { [ -n "$had" ] || rm -f "$policy"; return 1; }
  [ -n "$had" ] || rm -f "$policy"
}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL's server binaries (TLS tests)"
  no_start postgresql
fi
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  log "installing rabbitmq-server's binaries (TLS tests)"
  no_start rabbitmq-server
fi
for tool in runuser timeout; do
  command -v "$tool" >/dev/null 2>&1 || { log "installing $tool"; apt_install util-linux coreutils; }
done
log "PostgreSQL and RabbitMQ are up"
