-- The retention purge (README, "Retention") deletes consumed event ids older than
-- retention.inbox, oldest first, a batch at a time: each batch finds its rows by this index.
CREATE INDEX IF NOT EXISTS inbox_received_at ON order_query.inbox (received_at);
