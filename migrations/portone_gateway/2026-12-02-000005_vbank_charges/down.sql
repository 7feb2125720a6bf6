DROP TABLE portone_gateway.charges;
DROP INDEX portone_gateway.payments_open_vbank;
ALTER TABLE portone_gateway.payments DROP COLUMN vbank_num;
ALTER TABLE portone_gateway.orders DROP COLUMN deposit_deadline;
ALTER TABLE portone_gateway.payments DROP CONSTRAINT payments_pay_method_check;
ALTER TABLE portone_gateway.payments ADD CONSTRAINT payments_pay_method_check
    CHECK (pay_method IN ('cvs', 'card'));
ALTER TABLE portone_gateway.orders DROP CONSTRAINT orders_payment_method_check;
ALTER TABLE portone_gateway.orders ADD CONSTRAINT orders_payment_method_check
    CHECK (payment_method IN ('bank_transfer', 'cvs', 'card'));
