-- The retention purge (README, "Retention") deletes consumed event ids older than
-- retention.inbox and raw webhook records older than retention.webhooks, a batch at a time: each
-- batch finds its rows by these indexes.
CREATE INDEX IF NOT EXISTS inbox_received_at ON portone_gateway.inbox (received_at);
CREATE INDEX IF NOT EXISTS webhooks_received_at ON portone_gateway.webhooks (received_at);
