diesel::table! {
    order_query.orders (order_id) {
        seq -> Int8,
        order_id -> Text,
        status -> Text,
        payment_method -> Text,
        amount -> Numeric,
        billing_name -> Text,
        bank_account_no -> Text,
        bank_code_name -> Text,
        buyer_name -> Nullable<Text>,
        buyer_email -> Nullable<Text>,
        buyer_cellphone -> Nullable<Text>,
        order_date -> Timestamptz,
        items -> Jsonb,
        deposit_deadline -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        paid_via -> Nullable<Text>,
        paid_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
        expired_at -> Nullable<Timestamptz>,
        request_canonical -> Text,
        bankda_doc -> Text,
        paid_ref -> Nullable<Text>,
        refunded_amount -> Numeric,
    }
}

diesel::table! {
    order_query.payments (payment_ref) {
        payment_ref -> Text,
        order_id -> Text,
        method -> Text,
        amount -> Numeric,
        event_id -> Uuid,
        outcome -> Text,
        received_at -> Timestamptz,
        cancelled_at -> Nullable<Timestamptz>,
        refunded_amount -> Numeric,
    }
}

diesel::joinable!(payments -> orders (order_id));
diesel::allow_tables_to_appear_in_same_query!(orders, payments);
