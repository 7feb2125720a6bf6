DROP TABLE order_query.overpayments;
