-- Orders to be paid into a PortOne virtual account (payment_method vbank) are mirrored too: a
-- deposit Bankda confirms is accepted for any order awaiting payment.
ALTER TABLE deposit_confirmation.orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE deposit_confirmation.orders ADD CONSTRAINT orders_payment_method_check
    CHECK (payment_method IN ('bank_transfer', 'cvs', 'card', 'vbank'));
