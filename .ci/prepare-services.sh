#!/usr/bin/env bash
# Makes the local PostgreSQL and RabbitMQ ready for pushcdc's tests and bench: wal_level=logical (a
# restart), room for the slots parallel test files create, shared_buffers for million-row tables (in
# huge pages where the machine lets us reserve them), replication connections allowed over 127.0.0.1, and RabbitMQ up. Idempotent: a machine that is already ready is left alone.
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

# Huge pages for the buffer cache, as PostgreSQL advises for a large shared_buffers. Without them
# every new backend (each diff session after an engine start, each parallel worker) maps the 2 GB
# cache 4 KB at a time as it first touches it, and a first touch is dear on a VM: measured, a
# 20,000-change backlog at a million rows drained at 13.7k → 18.9k changes/s (single-table inquiry)
# and 7.8k → 13.7k (3-table join). `try`: without the reservation PostgreSQL starts without them.
huge_restart=no
if [ "$(setting huge_pages)" = off ]; then
  as_postgres "psql -Xqc 'ALTER SYSTEM SET huge_pages = try'"; huge_restart=yes
fi
huge_pages_needed=$(setting shared_memory_size_in_huge_pages)
if [ "$huge_pages_needed" -gt 0 ] && [ "$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)" -lt "$huge_pages_needed" ]; then
  if echo $((huge_pages_needed + 16)) 2>/dev/null > /proc/sys/vm/nr_hugepages; then
    echo "reserved $((huge_pages_needed + 16)) huge pages for PostgreSQL"; huge_restart=yes
  else
    echo "could not reserve huge pages (vm.nr_hugepages): PostgreSQL runs without them"
  fi
fi
postmaster_pid=$(head -1 "$(setting data_directory)/postmaster.pid")
if [ "$huge_restart" = yes ] && ! grep -q anon_hugepage "/proc/$postmaster_pid/maps" 2>/dev/null; then
  echo "restarting PostgreSQL for huge pages"
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
