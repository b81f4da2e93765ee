-- The tables the engine owns (SPEC section 8). Later changes ship as further numbered files.
-- Numbering by area keeps parallel work from colliding: 0001-0009 core and capture,
-- 0010-0019 dispatch, 0020-0029 commerce, 0030-0039 monitor.

CREATE TABLE pushcdc.system_events (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT now(),
  level     text NOT NULL CHECK (level IN ('information', 'warning', 'error', 'fatal')),
  source    text NOT NULL,
  message   text NOT NULL,
  tenant    text,
  details   jsonb
);
CREATE INDEX system_events_at ON pushcdc.system_events (at DESC);

CREATE TABLE pushcdc.failed_notifications (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  destination     text NOT NULL,
  query           text NOT NULL,
  error           text NOT NULL,
  payload         text NOT NULL,
  truncated       boolean NOT NULL DEFAULT false,
  notification_id uuid,
  attempts        integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX failed_notifications_created ON pushcdc.failed_notifications (created_at);

CREATE TABLE pushcdc.sync_status (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  store              text NOT NULL,
  entity             text NOT NULL,
  local_id           text,
  extern_id          text,
  extern_description text,
  status             text NOT NULL CHECK (status IN
                       ('prepared', 'processed', 'failed', 'aborted', 'skipped', 'deleted', 'filtered', 'invalid')),
  last_operation     text,
  last_error         text,
  attempt_count      integer NOT NULL DEFAULT 0,
  pending_sync       boolean NOT NULL DEFAULT false,
  sync_in_process    boolean NOT NULL DEFAULT false,
  local_ts           timestamptz,
  extern_ts          timestamptz,
  extern_hash        text,
  last_attempt_at    timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sync_status_local ON pushcdc.sync_status (store, entity, local_id) WHERE local_id IS NOT NULL;
CREATE UNIQUE INDEX sync_status_extern ON pushcdc.sync_status (store, entity, extern_id) WHERE extern_id IS NOT NULL;
CREATE INDEX sync_status_status ON pushcdc.sync_status (status, updated_at DESC);

-- JSON for a number, exact: PostgreSQL renders numerics exactly, but JSON readers parse numbers as
-- doubles; a value with more than 15 significant digits (or an int8 beyond 2^53) goes out as a string.
CREATE FUNCTION pushcdc.json_exact(value numeric) RETURNS json
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE
    WHEN value IS NULL THEN NULL
    WHEN value = value::float8::numeric THEN to_json(value)
    ELSE to_json(value::text)
  END;

CREATE FUNCTION pushcdc.json_exact(value bigint) RETURNS json
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE
    WHEN value IS NULL THEN NULL
    WHEN value BETWEEN -9007199254740991 AND 9007199254740991 THEN to_json(value)
    ELSE to_json(value::text)
  END;
