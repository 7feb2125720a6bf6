ALTER TABLE order_query.orders DROP CONSTRAINT orders_paid_has_payment;
ALTER TABLE order_query.orders ADD CONSTRAINT orders_check
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND paid_via IS NOT NULL));
DROP TABLE order_query.refunds;
ALTER TABLE order_query.payments DROP COLUMN refunded_amount;
ALTER TABLE order_query.orders DROP COLUMN refunded_amount;
