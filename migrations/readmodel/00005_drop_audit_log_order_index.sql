-- rm_audit_log_order_idx (order_id, version) served GET /audit?order_id= until 00003 gave that list an
-- index in its own order (order_id, recorded_at DESC, event_id DESC). No query reads it since, and
-- every event still paid for it: one more index entry per audit row, live and in every rebuild.

-- +goose Up
DROP INDEX IF EXISTS rm_audit_log_order_idx;

-- +goose Down
CREATE INDEX rm_audit_log_order_idx ON rm_audit_log (order_id, version);
