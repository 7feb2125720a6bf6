-- Virtual accounts (pay_method vbank) and orders to be paid by one.
ALTER TABLE portone_gateway.orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE portone_gateway.orders ADD CONSTRAINT orders_payment_method_check
    CHECK (payment_method IN ('bank_transfer', 'cvs', 'card', 'vbank'));
ALTER TABLE portone_gateway.payments DROP CONSTRAINT payments_pay_method_check;
ALTER TABLE portone_gateway.payments ADD CONSTRAINT payments_pay_method_check
    CHECK (pay_method IN ('cvs', 'card', 'vbank'));
-- The deadline a virtual account gets when the merchant names none (from order.created; null for
-- orders mirrored before it was kept).
ALTER TABLE portone_gateway.orders ADD COLUMN deposit_deadline TIMESTAMPTZ;
-- The account a virtual-account payment was issued at (barcode stays the barcode's).
ALTER TABLE portone_gateway.payments ADD COLUMN vbank_num TEXT;
-- One open virtual account per order, as one open barcode.
CREATE UNIQUE INDEX payments_open_vbank ON portone_gateway.payments (order_id)
    WHERE pay_method = 'vbank' AND status = 'ready';

-- Billing-key charges the gateway started, now (kind charge) or booked at PortOne for later
-- (kind schedule): one row per order, claimed before PortOne is asked, so a concurrent duplicate
-- finds it and charges nothing. Neither has an imp_uid before PortOne answers (a timeout, a
-- schedule not yet run): they are read back by merchant_uid (= order_id).
--   charge:   charging -> paid | failed (a retry may claim a failed one again)
--   schedule: scheduled -> paid | failed, or scheduled -> unscheduling -> unscheduled
CREATE TABLE portone_gateway.charges (
    order_id        TEXT PRIMARY KEY REFERENCES portone_gateway.orders (order_id),
    kind            TEXT NOT NULL CHECK (kind IN ('charge', 'schedule')),
    customer_uid    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('charging', 'paid', 'failed', 'scheduled', 'unscheduling', 'unscheduled')),
    amount          NUMERIC(14, 2) NOT NULL,
    schedule_at     TIMESTAMPTZ,
    imp_uid         TEXT,
    fail_reason     TEXT,
    claimed_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    -- Revoking a schedule at PortOne (the voider), with retries.
    unschedule_reason TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_error      TEXT,
    -- Reconciliation (design §5): read by merchant_uid from portone.reconcile.first_after after the
    -- claim (a charge) or schedule_at (a schedule), as payments rows are read by imp_uid.
    next_reread_at  TIMESTAMPTZ,
    reread_count    INTEGER NOT NULL DEFAULT 0,
    reread_errors   INTEGER NOT NULL DEFAULT 0,
    last_reread_error TEXT,
    CHECK ((kind = 'schedule') = (schedule_at IS NOT NULL))
);
CREATE INDEX charges_unscheduling ON portone_gateway.charges (next_attempt_at) WHERE status = 'unscheduling';
CREATE INDEX charges_open ON portone_gateway.charges (claimed_at) WHERE status IN ('charging', 'scheduled');
