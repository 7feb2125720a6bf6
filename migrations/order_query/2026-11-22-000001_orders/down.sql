DROP TABLE order_query.inbox;
DROP TABLE order_query.outbox;
DROP TABLE order_query.orders;
