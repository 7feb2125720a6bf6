//! `platform::db::connect` against a PostgreSQL that accepts the connection and then says
//! nothing: the attempt ends, with an error saying so, instead of hanging a migration or a purge.

use testkit::TcpSwitch;

#[tokio::test]
async fn a_server_that_never_answers_is_an_error_not_a_hang() {
    let db = testkit::create_database().await;
    let switch = TcpSwitch::postgres().await;
    switch.blackhole();
    let err = platform::db::connect(&switch.url_for(&db))
        .await
        .err()
        .expect("no connection through a black hole");
    assert_eq!(
        err.to_string(),
        format!(
            "PostgreSQL did not answer within {:?}",
            platform::postgres::CONNECT_TIMEOUT
        )
    );
}
