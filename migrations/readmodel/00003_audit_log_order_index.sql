-- GET /audit?order_id= lists an order's entries newest first, as every audit list goes, by
-- (recorded_at, event_id). rm_audit_log_order_idx keeps an order's rows in version order, which served
-- the order but not that sort or the keyset condition: each page sorted all of the order's rows. An
-- order's stream has no upper bound on its length (items may be added and removed while it is a
-- draft), so the list gets its own index, shaped like the actor and type ones.

-- +goose Up
CREATE INDEX rm_audit_log_order_recorded_idx ON rm_audit_log (order_id, recorded_at DESC, event_id DESC);

-- +goose Down
DROP INDEX rm_audit_log_order_recorded_idx;
