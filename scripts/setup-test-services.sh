#!/usr/bin/env bash
# What the tests need on this machine, brought up by `make test` (and so by `.ci/run`):
# PostgreSQL (127.0.0.1:5432, trust), MariaDB (127.0.0.1:3306, root), RabbitMQ (127.0.0.1:5672,
# guest) with its management API (127.0.0.1:15672, for `iluo-sync status`), and the Debian
# packages of scripts/install-system-deps.sh. Starts only what is down; a second run changes
# nothing. Exit 2, before any test runs, when something cannot be had: the message says which
# and how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }

cannot() {  # cannot WHAT HOW: the one place that gives up
  echo "setup: $1" >&2
  echo "setup: $2" >&2
  echo "setup: the tests were not run." >&2
  exit 2
}

port_open() {  # port_open PORT: something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for() {  # wait_for SECONDS CHECK-COMMAND...: true once CHECK succeeds
  local seconds=$1; shift
  for _ in $(seq 1 "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

need_root() {  # need_root NAME: starting a server here takes root (its files belong to it)
  if [ "$(id -u)" -ne 0 ]; then
    cannot "$1 is not running, and starting it needs root." \
      "Start it yourself (or run: sudo $0), then run make test again."
  fi
}

# -- PostgreSQL --------------------------------------------------------------------------------
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! command -v pg_isready >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  cannot "PostgreSQL is not installed (pg_isready / pg_ctlcluster not found)." \
    "Install it: apt-get install postgresql, with trust auth for 127.0.0.1 in pg_hba.conf."
fi
if pg_up; then
  say "PostgreSQL is up"
else
  need_root PostgreSQL
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || cannot "PostgreSQL has no cluster in /etc/postgresql." \
    "Create one: pg_createcluster --start 15 main (trust auth for 127.0.0.1 in pg_hba.conf)."
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for 60 pg_up || cannot "PostgreSQL did not come up on 127.0.0.1:5432." \
    "See /var/log/postgresql/postgresql-$version-main.log."
fi

# -- MariaDB -----------------------------------------------------------------------------------
maria_up() { mariadb-admin -h 127.0.0.1 -uroot ping; }
if ! command -v mariadb-admin >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
  cannot "MariaDB is not installed (mariadb-admin / /usr/sbin/mariadbd not found)." \
    "Install it: apt-get install mariadb-server (root may log in without a password)."
fi
if maria_up >/dev/null 2>&1; then
  say "MariaDB is up"
else
  need_root MariaDB
  say "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_for 60 maria_up || cannot "MariaDB did not come up on 127.0.0.1:3306." \
    "Start it by hand to see why: /usr/sbin/mariadbd"
fi

# -- RabbitMQ ----------------------------------------------------------------------------------
# Both ports open means the node runs, its app too (a stopped app closes its listeners) and the
# management plugin with it: nothing to do, and no slow Erlang command-line tool to start.
if ! command -v rabbitmq-server >/dev/null 2>&1 || ! command -v rabbitmqctl >/dev/null 2>&1; then
  cannot "RabbitMQ is not installed (rabbitmq-server / rabbitmqctl not found)." \
    "Install it: apt-get install rabbitmq-server (the guest user works from 127.0.0.1)."
fi
if port_open 5672 && port_open 15672; then
  say "RabbitMQ and its management API are up"
else
  need_root RabbitMQ
  # In the plugins file first (--offline needs no running node), so a node started below boots
  # with it; idempotent.
  rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
  if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    say "starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_for 60 rabbitmq-diagnostics -q ping || cannot "RabbitMQ did not come up." \
      "See /var/log/rabbitmq/ (or start it in the foreground: rabbitmq-server)."
  fi
  # The node runs but its app may be stopped (rabbitmqctl stop_app): start it.
  if ! rabbitmq-diagnostics -q check_running >/dev/null 2>&1; then
    say "starting the RabbitMQ app"
    rabbitmqctl -q start_app >/dev/null
  fi
  wait_for 60 port_open 5672 || cannot "RabbitMQ does not listen on 127.0.0.1:5672." \
    "See /var/log/rabbitmq/."
  # A node that was already running loads the plugin here (a no-op when it has it).
  rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_for 60 port_open 15672 || cannot "RabbitMQ's management API is not on 127.0.0.1:15672." \
    "Enable it: rabbitmq-plugins enable rabbitmq_management"
  say "RabbitMQ and its management API are up"
fi

# -- Debian packages ---------------------------------------------------------------------------
scripts/install-system-deps.sh \
  || cannot "the Debian packages unixodbc, odbc-mariadb, chromium and chromium-driver could not be installed." \
    "Install them: apt-get update && apt-get install unixodbc odbc-mariadb chromium chromium-driver fonts-dejavu-core"
say "unixODBC, the MariaDB ODBC driver, chromium and chromium-driver are installed"
