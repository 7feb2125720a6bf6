diesel::table! {
    deposit_confirmation.orders (order_id) {
        order_id -> Text,
        status -> Text,
        payment_method -> Text,
        amount -> Numeric,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    deposit_confirmation.confirmations (order_id) {
        order_id -> Text,
        amount -> Numeric,
        event_id -> Uuid,
        confirmed_at -> Timestamptz,
        request_id -> Text,
        source_ip -> Text,
    }
}

diesel::table! {
    deposit_confirmation.audit (id) {
        id -> Int8,
        at -> Timestamptz,
        source_ip -> Text,
        request_id -> Text,
        order_id -> Text,
        outcome -> Text,
        order_status -> Nullable<Text>,
        event_id -> Nullable<Uuid>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(orders, confirmations, audit);
