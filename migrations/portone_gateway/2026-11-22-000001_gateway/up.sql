-- portone-gateway's own view of orders, fed by order.* events.
CREATE TABLE portone_gateway.orders (
    order_id        TEXT PRIMARY KEY,
    status          TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'cancelled', 'expired')),
    payment_method  TEXT NOT NULL CHECK (payment_method IN ('bank_transfer', 'cvs', 'card')),
    amount          NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    billing_name    TEXT NOT NULL,
    buyer_name      TEXT,
    buyer_email     TEXT,
    buyer_cellphone TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- PortOne payments the gateway knows of: the barcodes it issued, and payments it verified.
-- No card data is ever stored here.
CREATE TABLE portone_gateway.payments (
    imp_uid      TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES portone_gateway.orders (order_id),
    pay_method   TEXT NOT NULL CHECK (pay_method IN ('cvs', 'card')),
    amount       NUMERIC(14, 2) NOT NULL,
    -- ready: barcode open; voiding: to be voided at PortOne; voided; paid; cancelled (refunded).
    status       TEXT NOT NULL CHECK (status IN ('ready', 'voiding', 'voided', 'paid', 'cancelled')),
    barcode      TEXT,
    expired_at   TIMESTAMPTZ,
    issued_at    TIMESTAMPTZ NOT NULL,
    paid_at      TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    voided_at    TIMESTAMPTZ,
    void_reason  TEXT,
    void_attempts INTEGER NOT NULL DEFAULT 0,
    next_void_at TIMESTAMPTZ,
    last_error   TEXT
);
-- One open barcode per order.
CREATE UNIQUE INDEX payments_open_barcode ON portone_gateway.payments (order_id)
    WHERE pay_method = 'cvs' AND status = 'ready';
CREATE INDEX payments_voiding ON portone_gateway.payments (next_void_at) WHERE status = 'voiding';

-- Every webhook received, with what the re-read at PortOne made of it.
CREATE TABLE portone_gateway.webhooks (
    id           BIGSERIAL PRIMARY KEY,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    imp_uid      TEXT NOT NULL,
    merchant_uid TEXT,
    status_hint  TEXT,
    source_ip    TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    detail       TEXT
);

CREATE TABLE portone_gateway.outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT
);
CREATE INDEX outbox_pending ON portone_gateway.outbox (id) WHERE published_at IS NULL;

CREATE TABLE portone_gateway.inbox (
    event_id    UUID PRIMARY KEY,
    event_type  TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
