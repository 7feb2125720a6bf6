-- Every payment order-query has seen, keyed by what identifies it at its source: a second event
-- about the same payment (even under a new event_id) changes nothing.
CREATE TABLE order_query.payments (
    -- 'bankda:<order_id>' (Bankda confirms an order once) or 'portone:<imp_uid>'.
    payment_ref  TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES order_query.orders (order_id),
    method       TEXT NOT NULL CHECK (method IN ('bank_transfer', 'cvs', 'card')),
    amount       NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    event_id     UUID NOT NULL,
    -- applied: it paid the order; overpaid: it arrived when no payment was expected.
    outcome      TEXT NOT NULL CHECK (outcome IN ('applied', 'overpaid')),
    received_at  TIMESTAMPTZ NOT NULL,
    cancelled_at TIMESTAMPTZ
);
CREATE INDEX payments_order ON order_query.payments (order_id);

ALTER TABLE order_query.orders ADD COLUMN paid_ref TEXT;
