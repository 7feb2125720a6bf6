DROP TABLE portone_gateway.refunds;
DROP TABLE portone_gateway.cancellations;
ALTER TABLE portone_gateway.payments DROP COLUMN cancelled_amount;
