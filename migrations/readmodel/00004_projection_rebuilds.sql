-- Blue-green rebuilds of projections (projections/rebuild.go, `projector rebuild`).
--
-- A rebuild builds a second copy of a projection's tables from the start of the log in a schema of its
-- own, "rebuild_<projection>", while the live copy keeps serving. Its row below is its checkpoint,
-- committed in the same transaction as each of its batches, so an interrupted rebuild resumes where it
-- stopped. Once the copy has caught up, one transaction moves its tables into the live schema in place
-- of the old ones, bumps projection_checkpoints.generation, and deletes the row.

-- +goose Up
ALTER TABLE projection_checkpoints
    ADD COLUMN generation int NOT NULL DEFAULT 1, -- incremented by every switch to a rebuilt copy
    ADD COLUMN rebuilt_at timestamptz,            -- when the last switch happened
    ADD COLUMN rebuild_events bigint,             -- events the last rebuild read
    ADD COLUMN rebuild_seconds double precision;  -- from its start (first request) to its switch

CREATE TABLE projection_rebuilds (
    name           text        PRIMARY KEY,
    schema_version int         NOT NULL,         -- the version being built
    generation     int         NOT NULL,         -- the generation the copy becomes at the switch
    keep_old       boolean     NOT NULL DEFAULT false, -- keep the old copy in schema "retired_<name>_<generation>"
    requested_by   text        NOT NULL,         -- who asked: a projector's owner name, or "cli"
    builder        text,                         -- the process building the copy now
    position       text        NOT NULL DEFAULT '0:0', -- the copy's checkpoint
    events         bigint      NOT NULL DEFAULT 0, -- events read so far
    events_total   bigint,                       -- events in the log when the build started
    head_position  text,                         -- the log's head when the builder last looked
    lag_events     bigint,                       -- events between position and head, capped at 100000
    last_error     text,                         -- why the last attempt failed; NULL while healthy
    deferred_indexes text[] NOT NULL DEFAULT '{}', -- CREATE INDEX statements run once the copy is built
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE projection_rebuilds;
ALTER TABLE projection_checkpoints
    DROP COLUMN rebuild_seconds, DROP COLUMN rebuild_events, DROP COLUMN rebuilt_at, DROP COLUMN generation;
