//! The outbox and inbox tables are written once per service, because each service's migrations
//! are SQL files of its own. The relay and the consumer in this crate expect one shape of them;
//! this keeps the copies from drifting apart.

const SERVICES: &[(&str, &str)] = &[
    (
        "order_query",
        include_str!("../../../migrations/order_query/2026-11-22-000001_orders/up.sql"),
    ),
    (
        "deposit_confirmation",
        include_str!("../../../migrations/deposit_confirmation/2026-11-22-000001_deposits/up.sql"),
    ),
    (
        "portone_gateway",
        include_str!("../../../migrations/portone_gateway/2026-11-22-000001_gateway/up.sql"),
    ),
];

/// The statements that create `<schema>.outbox`, its index and `<schema>.inbox`, with the schema
/// name, comments and white space taken out.
fn messaging_ddl(schema: &str, sql: &str) -> String {
    let start = sql
        .find(&format!("CREATE TABLE {schema}.outbox"))
        .unwrap_or_else(|| panic!("{schema}: no outbox table"));
    let inbox = sql[start..]
        .find(&format!("CREATE TABLE {schema}.inbox"))
        .unwrap_or_else(|| panic!("{schema}: no inbox table after the outbox"))
        + start;
    let end = sql[inbox..].find(");").expect("end of the inbox table") + inbox + 2;
    sql[start..end]
        .replace(&format!("{schema}."), "<schema>.")
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_service_creates_the_same_outbox_and_inbox() {
    let (first, first_sql) = SERVICES[0];
    let expected = messaging_ddl(first, first_sql);
    // What the relay and the consumer rely on.
    for needle in [
        "CREATE TABLE <schema>.outbox ( id BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL UNIQUE,",
        "CREATE INDEX outbox_pending ON <schema>.outbox (id) WHERE published_at IS NULL;",
        "CREATE TABLE <schema>.inbox ( event_id UUID PRIMARY KEY,",
    ] {
        assert!(expected.contains(needle), "{first}: {needle}\n{expected}");
    }
    for (schema, sql) in &SERVICES[1..] {
        assert_eq!(
            messaging_ddl(schema, sql),
            expected,
            "{schema}'s outbox/inbox differ from {first}'s"
        );
    }
}
