-- Projection bookkeeping: where each projection has read up to, and whether it is healthy.

-- +goose Up
CREATE TABLE projection_checkpoints (
    name           text        PRIMARY KEY, -- the durable projection name, e.g. 'orders.v1'
    schema_version int         NOT NULL,    -- of the projection's tables: a change means a rebuild
    -- The last position applied, as the event store encodes it. commit_pos and prepare_pos hold the
    -- two halves as numbers where the store has them (EventStoreDB's $all), so SQL can compare them.
    position       text        NOT NULL DEFAULT '0:0',
    commit_pos     bigint      NOT NULL DEFAULT 0,
    prepare_pos    bigint      NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projection_status (
    name           text        PRIMARY KEY,
    state          text        NOT NULL,
    last_error     text,
    error_position text,                    -- the position of the event that failed
    error_count    int         NOT NULL DEFAULT 0,
    updated_at     timestamptz
);

-- +goose Down
DROP TABLE projection_status;
DROP TABLE projection_checkpoints;
