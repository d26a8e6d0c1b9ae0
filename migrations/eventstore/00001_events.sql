-- The event store: one append-only table that is both every stream and the
-- global log. See eventstore/postgres/doc.go for why positions are
-- (transaction, sequence) pairs.

-- +goose Up
CREATE TABLE eventstore_settings (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Added to every transaction ID written to events.tx_id. It stays 0
    -- unless the database is restored into a cluster whose transaction IDs
    -- are lower than the ones recorded: then it is raised so that positions
    -- keep increasing (see eventstore/postgres.Store.Open).
    xid_offset bigint NOT NULL DEFAULT 0 CHECK (xid_offset >= 0)
);
INSERT INTO eventstore_settings DEFAULT VALUES;

CREATE TABLE events (
    tx_id          bigint      NOT NULL,
    seq            bigint      GENERATED ALWAYS AS IDENTITY,
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL CHECK (stream_id <> ''),
    version        bigint      NOT NULL CHECK (version >= 1),
    type           text        NOT NULL CHECK (type <> ''),
    schema_version integer     NOT NULL CHECK (schema_version >= 1),
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_log_pkey PRIMARY KEY (tx_id, seq),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

COMMENT ON TABLE events IS 'Append-only. The global log order is (tx_id, seq); readers only read below the oldest running transaction.';

-- What holds the global log back: readers only see events of transactions
-- older than the oldest transaction still running in the cluster, so a long
-- or idle-in-transaction session (or a forgotten prepared transaction)
-- stalls every projection. Operators look here first when lag grows.
CREATE VIEW eventstore_log_blockers AS
SELECT a.pid,
       a.datname::text                              AS database,
       a.usename::text                              AS username,
       a.application_name,
       a.state,
       a.backend_xid::text::bigint                  AS xid,
       age(a.backend_xid)                           AS xid_age,
       now() - a.xact_start                         AS transaction_age,
       left(a.query, 200)                           AS query
FROM pg_stat_activity a
WHERE a.backend_xid IS NOT NULL
UNION ALL
SELECT NULL,
       p.database::text,
       p.owner::text,
       'prepared transaction ' || p.gid,
       'prepared',
       p.transaction::text::bigint,
       age(p.transaction),
       now() - p.prepared,
       NULL
FROM pg_prepared_xacts p;

-- +goose Down
DROP VIEW eventstore_log_blockers;
DROP TABLE events;
DROP TABLE eventstore_settings;
