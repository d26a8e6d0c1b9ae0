-- The least work of an append: one transaction inserting one event-shaped row (~300 bytes of JSON)
-- into a table with a unique (stream_id, version) constraint. A fresh random stream each time.
\set stream random(1, 1000000000000)
INSERT INTO bench_events (stream_id, version, data)
VALUES ('s-' || :client_id || '-' || :stream, 1, '{"sku":"SKU-123456","name":"Espresso beans, 1 kg, dark roast, whole","quantity":3,"unit_price_cents":1999,"at":"2026-11-23T10:00:00.123456Z","note":"padding to the size of a typical order event payload, about three hundred bytes in all, like the baseline scripts"}');
