-- The least work of a command: in one transaction, read a 10-event stream (the aggregate's
-- history) and insert one event. bench_events holds 1,000 seeded streams of 10 events.
\set seed random(1, 1000)
\set stream random(1, 1000000000000)
BEGIN;
SELECT version, data FROM bench_events WHERE stream_id = 'seed-' || :seed ORDER BY version;
INSERT INTO bench_events (stream_id, version, data)
VALUES ('c-' || :client_id || '-' || :stream, 11, '{"sku":"SKU-123456","name":"Espresso beans, 1 kg, dark roast, whole","quantity":3,"unit_price_cents":1999,"at":"2026-11-23T10:00:00.123456Z","note":"padding to the size of a typical order event payload, about three hundred bytes in all, like the baseline scripts"}');
COMMIT;
