#!/usr/bin/env bash
# Makes the local PostgreSQL and RabbitMQ ready for pushcdc's tests and bench: wal_level=logical (a
# restart), room for the slots parallel test files create, shared_buffers for million-row tables,
# replication connections allowed over 127.0.0.1, and RabbitMQ up. Idempotent: a machine that is already ready is left alone.
set -euo pipefail

pg_version=$(ls /etc/postgresql | sort -n | tail -1)
hba=/etc/postgresql/$pg_version/main/pg_hba.conf
as_postgres() { su postgres -c "$1"; }
pg_ctl_cluster() { pg_ctlcluster --skip-systemctl-redirect "$pg_version" main "$1"; }

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL $pg_version"
  pg_ctl_cluster start
fi

setting() { as_postgres "psql -XtAc 'SHOW $1'" | tr -d '[:space:]'; }
restart=no
if [ "$(setting wal_level)" != logical ]; then
  as_postgres "psql -Xqc 'ALTER SYSTEM SET wal_level = logical'"; restart=yes
fi
if [ "$(setting max_replication_slots)" -lt 40 ]; then
  as_postgres "psql -Xqc 'ALTER SYSTEM SET max_replication_slots = 40'"; restart=yes
fi
if [ "$(setting max_wal_senders)" -lt 40 ]; then
  as_postgres "psql -Xqc 'ALTER SYSTEM SET max_wal_senders = 40'"; restart=yes
fi
# Each diff reads source rows, state rows and indexes by key; with the default 128MB they are read
# through the OS cache (and evicted dirty) on every batch once tables reach a million rows.
shared_buffers_mb=$(as_postgres "psql -XtAc \"SELECT setting::bigint * 8 / 1024 FROM pg_settings WHERE name = 'shared_buffers'\"" | tr -d '[:space:]')
if [ "$shared_buffers_mb" -lt 2048 ]; then
  as_postgres "psql -Xqc \"ALTER SYSTEM SET shared_buffers = '2GB'\""; restart=yes
fi
if [ "$restart" = yes ]; then
  echo "restarting PostgreSQL for its settings"
  pg_ctl_cluster restart
fi

if ! grep -Eq '^\s*host\s+replication\s+all\s+127\.0\.0\.1/32' "$hba"; then
  echo "allowing replication connections from 127.0.0.1"
  printf 'local replication all trust\nhost replication all 127.0.0.1/32 trust\n' >> "$hba"
  pg_ctl_cluster reload
fi

for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
echo "PostgreSQL: wal_level=$(setting wal_level)"

if ! rabbitmqctl -q status >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached
fi
rabbitmqctl -q await_startup --timeout 120
echo "RabbitMQ: up"
