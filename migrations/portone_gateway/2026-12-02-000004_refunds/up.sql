-- Refunds (design §3.2, §6): what PortOne says is cancelled of each payment, and the merchant's
-- refund requests under their Idempotency-Key.

-- PortOne's cancel_amount as last read: the cancellable balance is amount - cancelled_amount,
-- and it is what the gateway sends as `checksum`.
ALTER TABLE portone_gateway.payments
    ADD COLUMN cancelled_amount NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (cancelled_amount >= 0);

-- Every cancel_history entry the gateway has emitted `payment.cancelled` for: one event per id,
-- whether it was learnt from the cancel answer, a webhook or a re-read.
CREATE TABLE portone_gateway.cancellations (
    cancellation_id  TEXT PRIMARY KEY,
    imp_uid          TEXT NOT NULL REFERENCES portone_gateway.payments (imp_uid),
    amount           NUMERIC(14, 2) NOT NULL CHECK (amount >= 0),
    remaining_amount NUMERIC(14, 2) NOT NULL CHECK (remaining_amount >= 0),
    cancelled_at     TIMESTAMPTZ NOT NULL,
    reason           TEXT,
    recorded_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cancellations_imp_uid ON portone_gateway.cancellations (imp_uid);

-- One row per Idempotency-Key, inserted (and committed) before PortOne is asked: the row is the
-- lock that keeps a concurrent duplicate from cancelling twice. Kept (never purged) so a replay
-- answers the stored result for at least the 24 h design §6 promises.
CREATE TABLE portone_gateway.refunds (
    idempotency_key  TEXT PRIMARY KEY,
    imp_uid          TEXT NOT NULL,
    -- The request as the gateway read it (canonical JSON): a replay must match it exactly.
    request          TEXT NOT NULL,
    -- pending: being sent; unknown: PortOne did not answer (timeout), settled from
    -- cancel_history; succeeded / refused: final, `response_*` replayed.
    status           TEXT NOT NULL CHECK (status IN ('pending', 'unknown', 'succeeded', 'refused')),
    amount           NUMERIC(14, 2),
    -- The cancellable balance sent as checksum: PortOne applied this cancel only if its balance
    -- was exactly this, which identifies the cancel_history entry when the answer was lost.
    checksum         NUMERIC(14, 2),
    cancellation_id  TEXT UNIQUE,
    response_status  INTEGER,
    response_body    JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status IN ('succeeded', 'refused')) = (response_status IS NOT NULL))
);
CREATE INDEX refunds_unsettled ON portone_gateway.refunds (imp_uid)
    WHERE status IN ('pending', 'unknown');
