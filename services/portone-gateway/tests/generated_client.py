"""Uses the client openapi-python-client generated from order-query's /openapi.json, unchanged:
create an order, read it back, list it, cancel it, and see the documented errors.
Usage: generated_client.py BASE_URL TOKEN (the generated package on PYTHONPATH)."""

import sys
import uuid

from paybridge_order_query_client import AuthenticatedClient
from paybridge_order_query_client.api.orders import cancel_order, create_order, get_order, list_orders
from paybridge_order_query_client.models import CreateOrderRequest, ErrorBody, ListOrdersStatus, OrderPage, OrderView

base_url, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=base_url, token=token)
order_id = "gen-" + uuid.uuid4().hex[:20]

request = CreateOrderRequest(
    order_id=order_id,
    order_price_amount="30000.00",
    billing_name="홍길동",
    bank_account_no="12312422234",
    bank_code_name="국민은행",
    buyer_email="hong@example.com",
)
created = create_order.sync_detailed(client=client, body=request)
assert created.status_code == 201, created
assert isinstance(created.parsed, OrderView), created.parsed
assert created.parsed.order_id == order_id
assert created.parsed.status.value == "awaiting_payment", created.parsed.status
assert created.parsed.order_price_amount == "30000.00"

got = get_order.sync(client=client, order_id=order_id)
assert isinstance(got, OrderView) and got.billing_name == "홍길동", got

page = list_orders.sync(client=client, status=ListOrdersStatus("awaiting_payment"), limit=200)
assert isinstance(page, OrderPage) and order_id in [o.order_id for o in page.orders], page

cancelled = cancel_order.sync(client=client, order_id=order_id)
assert isinstance(cancelled, OrderView) and cancelled.status.value == "cancelled", cancelled

missing = get_order.sync_detailed(client=client, order_id="no-such-order")
assert missing.status_code == 404 and isinstance(missing.parsed, ErrorBody), missing
assert missing.parsed.code == "order_not_found", missing.parsed

refused = get_order.sync_detailed(client=AuthenticatedClient(base_url=base_url, token="wrong"), order_id=order_id)
assert refused.status_code == 401 and refused.parsed.code == "unauthorized", refused
print("generated client: ok")
