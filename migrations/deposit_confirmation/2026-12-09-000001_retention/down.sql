DROP INDEX IF EXISTS deposit_confirmation.audit_at;
DROP INDEX IF EXISTS deposit_confirmation.inbox_received_at;
