-- What the commerce role needs beside the ERP's sync status columns (0001):
--   pending_payload / pending_ts: the latest version of the record waiting to be synced (the
--     inquiry's result row or the webhook body) and when it changed. local_ts/extern_ts stay the
--     stamps of the last successful sync, so a later change is recognised as newer than it.
--   direction: the direction of the last message (export or import).
--   last_sent: what the last successful sync sent to the storefront (extern_hash is its hash).
ALTER TABLE pushcdc.sync_status
  ADD COLUMN pending_payload jsonb,
  ADD COLUMN pending_ts      timestamptz,
  ADD COLUMN direction       text CHECK (direction IN ('export', 'import')),
  ADD COLUMN last_sent       jsonb;

CREATE INDEX sync_status_store_entity ON pushcdc.sync_status (store, entity, updated_at DESC);
