-- Keys are scoped per authenticated client (idempotency.Scoped): the scope, up to 128 characters plus
-- its length, comes before the client's own key of up to 255.
-- +goose Up
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_check,
    ADD CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 400);

-- +goose Down
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_check,
    ADD CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 255);
