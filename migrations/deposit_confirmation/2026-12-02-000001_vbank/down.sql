ALTER TABLE deposit_confirmation.orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE deposit_confirmation.orders ADD CONSTRAINT orders_payment_method_check
    CHECK (payment_method IN ('bank_transfer', 'cvs', 'card'));
