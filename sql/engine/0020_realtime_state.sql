-- Real-time sync state per store, entity and direction (Start/Stop Real-Time Sync); survives restarts.
CREATE TABLE pushcdc.realtime_state (
  store      text NOT NULL,
  entity     text NOT NULL,
  direction  text NOT NULL CHECK (direction IN ('export', 'import')),
  status     text NOT NULL CHECK (status IN ('running', 'stopped', 'not-supported')),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store, entity, direction)
);
