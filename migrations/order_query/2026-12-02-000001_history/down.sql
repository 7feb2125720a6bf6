DROP TRIGGER outbox_to_history ON order_query.outbox;
DROP FUNCTION order_query.outbox_to_history();
DROP TABLE order_query.history;
