-- Refunds of PortOne payments (payment.cancelled, full or partial), one row per cancellation.
ALTER TABLE order_query.orders
    ADD COLUMN refunded_amount NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0);
ALTER TABLE order_query.payments
    ADD COLUMN refunded_amount NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0);

CREATE TABLE order_query.refunds (
    payment_ref      TEXT NOT NULL,
    -- PortOne's cancellation_id, or the event id for events that carry none.
    cancellation_id  TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    amount           NUMERIC(14, 2) NOT NULL,
    remaining_amount NUMERIC(14, 2),
    cancelled_at     TIMESTAMPTZ NOT NULL,
    event_id         UUID NOT NULL,
    PRIMARY KEY (payment_ref, cancellation_id)
);

-- A refunded order is cancelled but was paid: it keeps paid_via and paid_at. The old rule
-- (paid exactly when paid_at/paid_via are set) refused that; now only a paid order must have them.
ALTER TABLE order_query.orders DROP CONSTRAINT orders_check;
ALTER TABLE order_query.orders ADD CONSTRAINT orders_paid_has_payment
    CHECK (status <> 'paid' OR (paid_at IS NOT NULL AND paid_via IS NOT NULL));
