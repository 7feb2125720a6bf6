-- order-query owns the order aggregate.
CREATE TABLE order_query.orders (
    -- Insertion order, for keyset paging and a stable Bankda list.
    seq               BIGSERIAL NOT NULL UNIQUE,
    order_id          TEXT PRIMARY KEY CHECK (order_id ~ '^[A-Za-z0-9_-]{1,40}$'),
    status            TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'cancelled', 'expired')),
    payment_method    TEXT NOT NULL CHECK (payment_method IN ('bank_transfer', 'cvs', 'card')),
    amount            NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    billing_name      TEXT NOT NULL,
    bank_account_no   TEXT NOT NULL,
    bank_code_name    TEXT NOT NULL,
    buyer_name        TEXT,
    buyer_email       TEXT,
    buyer_cellphone   TEXT,
    order_date        TIMESTAMPTZ NOT NULL,
    items             JSONB NOT NULL DEFAULT '[]',
    deposit_deadline  TIMESTAMPTZ NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    paid_via          TEXT CHECK (paid_via IN ('bank_transfer', 'cvs', 'card')),
    paid_at           TIMESTAMPTZ,
    cancelled_at      TIMESTAMPTZ,
    expired_at        TIMESTAMPTZ,
    -- The create request, normalised: a repeat with the same text is a replay, else a conflict.
    request_canonical TEXT NOT NULL,
    -- The order exactly as Bankda's list and detail show it, rendered once at creation: the
    -- fields Bankda sees never change, and the list is then one string_agg.
    bankda_doc        TEXT NOT NULL,
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND paid_via IS NOT NULL))
);

CREATE INDEX orders_bankda_awaiting ON order_query.orders (seq)
    WHERE status = 'awaiting_payment' AND payment_method = 'bank_transfer';
CREATE INDEX orders_status_seq ON order_query.orders (status, seq);
CREATE INDEX orders_awaiting_deadline ON order_query.orders (deposit_deadline)
    WHERE status = 'awaiting_payment';

-- Transactional outbox: events written with the change that causes them (crates/messaging).
CREATE TABLE order_query.outbox (
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
CREATE INDEX outbox_pending ON order_query.outbox (id) WHERE published_at IS NULL;

-- Events already applied, written in the same transaction as their effect.
CREATE TABLE order_query.inbox (
    event_id    UUID PRIMARY KEY,
    event_type  TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
