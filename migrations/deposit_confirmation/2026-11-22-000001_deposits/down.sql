DROP TABLE deposit_confirmation.inbox;
DROP TABLE deposit_confirmation.outbox;
DROP TABLE deposit_confirmation.audit;
DROP TABLE deposit_confirmation.confirmations;
DROP TABLE deposit_confirmation.orders;
