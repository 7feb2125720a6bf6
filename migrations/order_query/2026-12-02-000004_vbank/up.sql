-- A PortOne virtual account (vbank) as an order's payment method and as the way it was paid.
ALTER TABLE order_query.orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE order_query.orders ADD CONSTRAINT orders_payment_method_check
    CHECK (payment_method IN ('bank_transfer', 'cvs', 'card', 'vbank'));
ALTER TABLE order_query.orders DROP CONSTRAINT orders_paid_via_check;
ALTER TABLE order_query.orders ADD CONSTRAINT orders_paid_via_check
    CHECK (paid_via IN ('bank_transfer', 'cvs', 'card', 'vbank'));
ALTER TABLE order_query.payments DROP CONSTRAINT payments_method_check;
ALTER TABLE order_query.payments ADD CONSTRAINT payments_method_check
    CHECK (method IN ('bank_transfer', 'cvs', 'card', 'vbank'));
