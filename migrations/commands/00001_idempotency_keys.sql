-- Idempotency records of the command API: the first outcome of each Idempotency-Key, replayed to
-- repeats of the same request until the record expires (see internal/idempotency).

-- +goose Up
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 255),
    -- sha256 of what makes two requests "the same": method, path, If-Match and body.
    request_hash bytea       NOT NULL,
    status       int         NOT NULL CHECK (status BETWEEN 100 AND 599),
    body         bytea       NOT NULL,
    -- The response headers worth replaying (Content-Type, Location, ETag), as {"name": "value"}.
    headers      jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL CHECK (expires_at > created_at)
);

-- The cleaner deletes expired records oldest first.
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
