-- Reconciliation (design §5): every payment the gateway started is re-read at PortOne until it
-- is final. The schedule lives on the payment's row, so one pass is a handful of indexed
-- statements whatever the number of payments (services/portone-gateway/src/reconcile/mod.rs).
ALTER TABLE portone_gateway.payments
    -- When the next re-read is due; while claimed, the end of the claim's lease. NULL: not on
    -- the schedule (not enrolled yet when reread_count = 0, off it for good otherwise).
    ADD COLUMN next_reread_at  TIMESTAMPTZ,
    -- Re-reads PortOne answered: the gap to the next one doubles with each.
    ADD COLUMN reread_count    INTEGER NOT NULL DEFAULT 0,
    -- Failed re-reads in a row (PortOne unreachable, 5xx, ...): the retry backs off with each.
    ADD COLUMN reread_errors   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_reread_at  TIMESTAMPTZ,
    ADD COLUMN last_reread_error TEXT;

-- The claim: the due rows in order, a range scan of the rows on the schedule only.
CREATE INDEX payments_reread_due ON portone_gateway.payments (next_reread_at)
    WHERE next_reread_at IS NOT NULL;
-- The age of the oldest unfinished payment: the first entry of this index.
CREATE INDEX payments_reread_oldest ON portone_gateway.payments (issued_at)
    WHERE next_reread_at IS NOT NULL;
-- Rows the gateway wrote that are not on the schedule yet (whatever inserted them): each pass
-- enrols them `portone.reconcile.first_after` after issue. Final rows never enter this index.
CREATE INDEX payments_reread_new ON portone_gateway.payments (issued_at)
    WHERE next_reread_at IS NULL AND reread_count = 0
      AND status NOT IN ('paid', 'cancelled', 'voided', 'failed');

-- Work done by one replica per period (the sweep): claimed by moving next_at forward.
CREATE TABLE portone_gateway.reconcile_runs (
    name    TEXT PRIMARY KEY,
    next_at TIMESTAMPTZ NOT NULL
);
