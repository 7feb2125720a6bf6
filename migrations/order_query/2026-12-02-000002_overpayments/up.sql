-- Money that reached the shop for an order that no longer awaited it: the shop's list of what
-- to give back (GET /v1/overpayments).
CREATE TABLE order_query.overpayments (
    -- Insertion order, for keyset paging.
    seq               BIGSERIAL NOT NULL UNIQUE,
    -- 'portone:<imp_uid>' or 'bankda:<order_id>' (Bankda confirms or refuses an order once).
    payment_ref       TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL,
    paid_via          TEXT NOT NULL,
    amount            NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    imp_uid           TEXT,
    received_at       TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'refunded')),
    refunded_at       TIMESTAMPTZ,
    -- A bank-transfer refund is the shop's own transfer: who said so (the request id) and why.
    refund_note       TEXT,
    refund_request_id TEXT,
    CHECK ((status = 'refunded') = (refunded_at IS NOT NULL)),
    CHECK ((imp_uid IS NOT NULL) = (payment_ref LIKE 'portone:%'))
);
CREATE INDEX overpayments_status_seq ON order_query.overpayments (status, seq);
