DROP INDEX IF EXISTS portone_gateway.webhooks_received_at;
DROP INDEX IF EXISTS portone_gateway.inbox_received_at;
