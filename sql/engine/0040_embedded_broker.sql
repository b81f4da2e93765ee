-- The embedded broker (SPEC section 3: used when AMQP_URL is unset): durable queues in PostgreSQL.
--
-- A message is ready while consumer_id is NULL. A consumer claims messages in id order (FOR UPDATE
-- SKIP LOCKED) by writing its id into them, and holds them until it acknowledges (the row is deleted)
-- or rejects them (consumer_id back to NULL, or deleted). Consumers hold a lease they keep renewing;
-- when a process dies its lease lapses, a live broker deletes the consumer row, and ON DELETE SET NULL
-- hands its messages back to the queue in their original positions, marked redelivered by
-- delivery_count > 0. Publishers NOTIFY channel pushcdc_broker with the queue name to wake consumers.

CREATE TABLE pushcdc.broker_queues (
  name                   text PRIMARY KEY,
  single_active_consumer boolean NOT NULL,
  created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pushcdc.broker_consumers (
  id          uuid PRIMARY KEY,
  -- Registration order: on a single-active-consumer queue the oldest subscribed consumer receives.
  seq         bigint GENERATED ALWAYS AS IDENTITY,
  queue       text NOT NULL REFERENCES pushcdc.broker_queues (name) ON DELETE CASCADE,
  -- False once cancelled: it receives no more, but keeps the messages it has not settled yet.
  subscribed  boolean NOT NULL DEFAULT true,
  prefetch    integer NOT NULL,
  lease_until timestamptz NOT NULL,
  pid         integer NOT NULL,
  host        text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX broker_consumers_queue ON pushcdc.broker_consumers (queue, seq);
CREATE INDEX broker_consumers_lease ON pushcdc.broker_consumers (lease_until);

CREATE TABLE pushcdc.broker_messages (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue          text NOT NULL REFERENCES pushcdc.broker_queues (name) ON DELETE CASCADE,
  body           bytea NOT NULL,
  message_id     text,
  headers        jsonb NOT NULL DEFAULT '{}',
  delivery_count integer NOT NULL DEFAULT 0,
  consumer_id    uuid REFERENCES pushcdc.broker_consumers (id) ON DELETE SET NULL,
  published_at   timestamptz NOT NULL DEFAULT now()
);
-- The ready messages of a queue in FIFO order: what a claim scans.
CREATE INDEX broker_messages_ready ON pushcdc.broker_messages (queue, id) WHERE consumer_id IS NULL;
-- The messages a consumer holds: what acks, nacks and the ON DELETE SET NULL of a dead consumer touch.
CREATE INDEX broker_messages_held ON pushcdc.broker_messages (consumer_id) WHERE consumer_id IS NOT NULL;
