-- deposit-confirmation's own view of orders, fed by order.* events.
CREATE TABLE deposit_confirmation.orders (
    order_id       TEXT PRIMARY KEY,
    status         TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'cancelled', 'expired')),
    payment_method TEXT NOT NULL CHECK (payment_method IN ('bank_transfer', 'cvs', 'card')),
    amount         NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Bankda confirms an order at most once; a repeat is a success that changes nothing.
CREATE TABLE deposit_confirmation.confirmations (
    order_id     TEXT PRIMARY KEY REFERENCES deposit_confirmation.orders (order_id),
    amount       NUMERIC(14, 2) NOT NULL,
    event_id     UUID NOT NULL,
    confirmed_at TIMESTAMPTZ NOT NULL,
    request_id   TEXT NOT NULL,
    source_ip    TEXT NOT NULL
);

-- Every order id of every confirmation request, as received, with what became of it.
CREATE TABLE deposit_confirmation.audit (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    source_ip    TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    order_id     TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('confirmed', 'already_confirmed', 'unknown_order', 'not_awaiting')),
    order_status TEXT,
    event_id     UUID
);
CREATE INDEX audit_order ON deposit_confirmation.audit (order_id, id);

CREATE TABLE deposit_confirmation.outbox (
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
CREATE INDEX outbox_pending ON deposit_confirmation.outbox (id) WHERE published_at IS NULL;

CREATE TABLE deposit_confirmation.inbox (
    event_id    UUID PRIMARY KEY,
    event_type  TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
