DROP INDEX IF EXISTS order_query.inbox_received_at;
