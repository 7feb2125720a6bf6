-- The retention purge (README, "Retention") deletes consumed event ids older than
-- retention.inbox and audit records older than retention.audit, a batch at a time: each batch
-- finds its rows by these indexes.
CREATE INDEX IF NOT EXISTS inbox_received_at ON deposit_confirmation.inbox (received_at);
CREATE INDEX IF NOT EXISTS audit_at ON deposit_confirmation.audit (at);
