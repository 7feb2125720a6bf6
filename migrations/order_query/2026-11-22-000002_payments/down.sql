ALTER TABLE order_query.orders DROP COLUMN paid_ref;
DROP TABLE order_query.payments;
