DROP TABLE portone_gateway.inbox;
DROP TABLE portone_gateway.outbox;
DROP TABLE portone_gateway.webhooks;
DROP TABLE portone_gateway.payments;
DROP TABLE portone_gateway.orders;
