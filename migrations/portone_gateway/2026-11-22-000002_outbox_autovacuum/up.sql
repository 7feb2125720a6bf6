-- Every published event updates its outbox row, and the relay scans the partial index of pending
-- rows (outbox_pending) many times a second. With published rows kept for days, the default
-- scale factor (20% of the table) lets dead entries pile up in that index for hours before
-- autovacuum comes; vacuum after every few thousand changes instead, whatever the table's size.
ALTER TABLE portone_gateway.outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 5000
);
