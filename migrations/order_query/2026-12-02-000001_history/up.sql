-- Every event about an order, from every producer, as the support desk reads it
-- (GET /v1/orders/{order_id}/history). The event_id is the key: a redelivered event adds nothing.
CREATE TABLE order_query.history (
    -- Arrival order, to break ties between events that occurred at the same instant.
    seq         BIGSERIAL NOT NULL UNIQUE,
    event_id    UUID PRIMARY KEY,
    -- No foreign key to orders: an event must never be refused because of its history row.
    order_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    producer    TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    data        JSONB NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX history_order ON order_query.history (order_id, occurred_at, seq);

-- order-query's own events (order.*) enter the history in the transaction that writes them to
-- the outbox, so whatever path enqueues an event (API, expiry, payments, a future one) records
-- it. Taking them back from the broker instead would bind order-query's queue to its own
-- events: more traffic, and an order.created routable even when no other service listens.
CREATE FUNCTION order_query.outbox_to_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO order_query.history (event_id, order_id, event_type, producer, occurred_at, data)
    SELECT n.event_id, n.order_id, n.event_type, n.payload::jsonb ->> 'producer', n.occurred_at,
           n.payload::jsonb -> 'data'
    FROM new_rows n
    ORDER BY n.id
    ON CONFLICT (event_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_to_history AFTER INSERT ON order_query.outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION order_query.outbox_to_history();
