-- The read models the projector builds (package projections) and the query API serves, and the progress
-- columns that make their eventual consistency visible.
--
-- Each projection owns its tables and nothing else writes them. Its changes and its checkpoint commit in
-- one transaction, so every row below reflects exactly the events up to projection_checkpoints.position
-- of its projection. Projection names are durable: 'orders', 'customer_summary', 'daily_sales',
-- 'audit_log'.
--
-- Progress, for readers (the query API):
--   * projection_checkpoints.position is the position token ("commit:prepare") the projection's tables
--     reflect: the X-Projection-Position of a response. last_event_at is the recorded_at of the last
--     event applied.
--   * projection_status holds, per projection, its state ('catching_up', 'running', 'idle', 'failing',
--     'stopped'), the log's head position and the lag as seen by the process that owns the projection,
--     written with every batch and at least every few seconds while idle (updated_at says when).
--     lag_events is NULL where the event store cannot count cheaply (EventStoreDB) and is capped at
--     100000; lag_seconds is now minus the recorded_at of the oldest event not yet applied, 0 when caught
--     up. 'waiting_for_lock' is never written here: a process waiting for a projection another process
--     owns must not overwrite the owner's row; it shows that state in its own metrics.
--   * After every committed batch the projector runs, in the same transaction,
--         NOTIFY projection_progress, '<name>:<position>'     e.g. 'orders:1234:5678'
--     (the name never contains ':', so split at the first one). A reader waiting for read-your-writes
--     LISTENs on projection_progress, then reads projection_checkpoints once (a notification sent before
--     it listened is not repeated), and compares positions with eventstore.Position.Compare.

-- +goose Up
ALTER TABLE projection_checkpoints
    ADD COLUMN last_event_at timestamptz; -- recorded_at of the last event applied; NULL before the first

ALTER TABLE projection_status
    ADD COLUMN schema_version int,
    ADD COLUMN owner          text,             -- the projector process that owns it (PROJECTOR_ID)
    ADD COLUMN head_position  text,             -- the log's head when the owner last looked
    ADD COLUMN lag_events     bigint,           -- events between position and head, capped at 100000
    ADD COLUMN lag_seconds    double precision; -- age of the oldest event not applied yet; 0 when caught up

-- orders: one row per order, as of its last applied event (version, position).
-- Totals follow the lines while the order is a draft and are the ones OrderPlaced recorded once placed.
-- ship_* are NULL until an address is set (ship_line2 also when it is empty); payment_reference and
-- paid_cents from OrderPaid, carrier and tracking_number from OrderShipped, cancel_reason from
-- OrderCancelled. Times are the events' own times (their "at"), not when they were recorded.
CREATE TABLE rm_orders (
    order_id          uuid        PRIMARY KEY,
    customer_id       text        NOT NULL,
    status            text        NOT NULL, -- draft, placed, paid, shipped, delivered, cancelled
    currency          text        NOT NULL,
    total_cents       bigint      NOT NULL DEFAULT 0,
    item_count        bigint      NOT NULL DEFAULT 0,
    line_count        int         NOT NULL DEFAULT 0,
    ship_name         text,
    ship_line1        text,
    ship_line2        text,
    ship_city         text,
    ship_postal_code  text,
    ship_country      text,
    payment_reference text,
    paid_cents        bigint,
    carrier           text,
    tracking_number   text,
    cancel_reason     text,
    version           bigint      NOT NULL, -- the stream version: the ETag
    position          text        NOT NULL, -- of the order's last applied event
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    placed_at         timestamptz,
    paid_at           timestamptz,
    shipped_at        timestamptz,
    delivered_at      timestamptz,
    cancelled_at      timestamptz
);
-- Newest first, with order_id breaking ties, for keyset pagination: all orders, by customer, by status.
CREATE INDEX rm_orders_created_idx ON rm_orders (created_at DESC, order_id DESC);
CREATE INDEX rm_orders_customer_created_idx ON rm_orders (customer_id, created_at DESC, order_id DESC);
CREATE INDEX rm_orders_status_created_idx ON rm_orders (status, created_at DESC, order_id DESC);

-- The order's current lines, one per SKU (a second ItemAdded of a SKU adds to its quantity). line_no
-- orders them as the SKUs were first added; numbers are not compacted after a removal, so list by
-- line_no, don't count on it. Line total = quantity * unit_price_cents.
CREATE TABLE rm_order_items (
    order_id         uuid   NOT NULL,
    sku              text   NOT NULL,
    name             text   NOT NULL,
    quantity         bigint NOT NULL,
    unit_price_cents bigint NOT NULL,
    line_no          int    NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- customer_summary: order counts by current status per customer (a paid order that ships moves from
-- paid to shipped), and the lifetime paid value per currency: the sum of every OrderPaid, not reduced
-- when a paid order is cancelled later. updated_at is the time of the last event that changed the row.
-- (No CHECK (count >= 0): the projection writes increments with INSERT ... ON CONFLICT, and PostgreSQL
-- checks the proposed row, a negative increment, before it finds the conflict.)
CREATE TABLE rm_customer_summaries (
    customer_id  text        PRIMARY KEY,
    orders_total int         NOT NULL DEFAULT 0,
    draft        int         NOT NULL DEFAULT 0,
    placed       int         NOT NULL DEFAULT 0,
    paid         int         NOT NULL DEFAULT 0,
    shipped      int         NOT NULL DEFAULT 0,
    delivered    int         NOT NULL DEFAULT 0,
    cancelled    int         NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE rm_customer_paid (
    customer_id text   NOT NULL,
    currency    text   NOT NULL,
    paid_cents  bigint NOT NULL,
    PRIMARY KEY (customer_id, currency)
);

-- Private to customer_summary: each order's customer and status, to move counts between statuses, and
-- the stream version applied, for idempotency.
CREATE TABLE rm_customer_orders (
    order_id    uuid   PRIMARY KEY,
    customer_id text   NOT NULL,
    status      text   NOT NULL,
    currency    text   NOT NULL,
    version     bigint NOT NULL
);

-- daily_sales: per UTC day of the event's own time and currency, orders placed, paid and cancelled
-- (cancellations from any status, drafts included) and the revenue of the payments.
CREATE TABLE rm_daily_sales (
    day                date   NOT NULL,
    currency           text   NOT NULL,
    orders_placed      int    NOT NULL DEFAULT 0,
    orders_paid        int    NOT NULL DEFAULT 0,
    orders_cancelled   int    NOT NULL DEFAULT 0,
    paid_revenue_cents bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency)
);

-- Private to daily_sales: each order's currency (OrderCancelled does not carry it) and applied version.
CREATE TABLE rm_sales_orders (
    order_id uuid   PRIMARY KEY,
    currency text   NOT NULL,
    version  bigint NOT NULL
);

-- audit_log: one row per order event, in the event store's words. recorded_at is when the store recorded
-- the event; commit_pos and prepare_pos are the two halves of position, as numbers, to sort by log order.
-- Empty metadata fields are NULL, except actor, which is '' when the writer gave none.
CREATE TABLE rm_audit_log (
    event_id       uuid        PRIMARY KEY,
    position       text        NOT NULL,
    commit_pos     bigint      NOT NULL,
    prepare_pos    bigint      NOT NULL,
    order_id       uuid        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    actor          text        NOT NULL,
    correlation_id text,
    causation_id   text,
    command        text,
    recorded_at    timestamptz NOT NULL
);
CREATE INDEX rm_audit_log_actor_idx ON rm_audit_log (actor, recorded_at DESC, event_id DESC);
CREATE INDEX rm_audit_log_order_idx ON rm_audit_log (order_id, version);
CREATE INDEX rm_audit_log_recorded_idx ON rm_audit_log (recorded_at DESC, event_id DESC);
CREATE INDEX rm_audit_log_type_idx ON rm_audit_log (type, recorded_at DESC, event_id DESC);

-- +goose Down
DROP TABLE rm_audit_log;
DROP TABLE rm_sales_orders;
DROP TABLE rm_daily_sales;
DROP TABLE rm_customer_orders;
DROP TABLE rm_customer_paid;
DROP TABLE rm_customer_summaries;
DROP TABLE rm_order_items;
DROP TABLE rm_orders;
ALTER TABLE projection_status
    DROP COLUMN lag_seconds,
    DROP COLUMN lag_events,
    DROP COLUMN head_position,
    DROP COLUMN owner,
    DROP COLUMN schema_version;
ALTER TABLE projection_checkpoints DROP COLUMN last_event_at;
