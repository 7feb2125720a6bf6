diesel::table! {
    portone_gateway.orders (order_id) {
        order_id -> Text,
        status -> Text,
        payment_method -> Text,
        amount -> Numeric,
        billing_name -> Text,
        buyer_name -> Nullable<Text>,
        buyer_email -> Nullable<Text>,
        buyer_cellphone -> Nullable<Text>,
        updated_at -> Timestamptz,
        deposit_deadline -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    portone_gateway.payments (imp_uid) {
        imp_uid -> Text,
        order_id -> Text,
        pay_method -> Text,
        amount -> Numeric,
        status -> Text,
        barcode -> Nullable<Text>,
        expired_at -> Nullable<Timestamptz>,
        issued_at -> Timestamptz,
        paid_at -> Nullable<Timestamptz>,
        cancelled_at -> Nullable<Timestamptz>,
        voided_at -> Nullable<Timestamptz>,
        void_reason -> Nullable<Text>,
        void_attempts -> Int4,
        next_void_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        next_reread_at -> Nullable<Timestamptz>,
        reread_count -> Int4,
        reread_errors -> Int4,
        last_reread_at -> Nullable<Timestamptz>,
        last_reread_error -> Nullable<Text>,
        cancelled_amount -> Numeric,
        vbank_num -> Nullable<Text>,
    }
}

diesel::table! {
    portone_gateway.cancellations (cancellation_id) {
        cancellation_id -> Text,
        imp_uid -> Text,
        amount -> Numeric,
        remaining_amount -> Numeric,
        cancelled_at -> Timestamptz,
        reason -> Nullable<Text>,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    portone_gateway.refunds (idempotency_key) {
        idempotency_key -> Text,
        imp_uid -> Text,
        request -> Text,
        status -> Text,
        amount -> Nullable<Numeric>,
        checksum -> Nullable<Numeric>,
        cancellation_id -> Nullable<Text>,
        response_status -> Nullable<Int4>,
        response_body -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    portone_gateway.webhooks (id) {
        id -> Int8,
        received_at -> Timestamptz,
        imp_uid -> Text,
        merchant_uid -> Nullable<Text>,
        status_hint -> Nullable<Text>,
        source_ip -> Text,
        request_id -> Text,
        outcome -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    portone_gateway.charges (order_id) {
        order_id -> Text,
        kind -> Text,
        customer_uid -> Text,
        status -> Text,
        amount -> Numeric,
        schedule_at -> Nullable<Timestamptz>,
        imp_uid -> Nullable<Text>,
        fail_reason -> Nullable<Text>,
        claimed_at -> Timestamptz,
        updated_at -> Timestamptz,
        unschedule_reason -> Nullable<Text>,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        next_reread_at -> Nullable<Timestamptz>,
        reread_count -> Int4,
        reread_errors -> Int4,
        last_reread_error -> Nullable<Text>,
    }
}

diesel::joinable!(payments -> orders (order_id));
diesel::joinable!(charges -> orders (order_id));
diesel::allow_tables_to_appear_in_same_query!(
    orders,
    payments,
    webhooks,
    cancellations,
    refunds,
    charges
);
