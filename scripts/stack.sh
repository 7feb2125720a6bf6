#!/usr/bin/env bash
# The local stack in one command: PostgreSQL and RabbitMQ (started or installed if missing),
# the database (created if missing), every paybridge service with its migrations applied,
# then the URLs and a development API token. Ctrl-C stops the services.
set -euo pipefail
cd "$(dirname "$0")/.."

# name:port of every service in the stack; later services join this list.
SERVICES=(portone-sandbox:8089 order-query:8081 deposit-confirmation:8082 portone-gateway:8083)

bash scripts/ensure-services.sh
echo "building (release)…" >&2
cargo build --release $(for s in "${SERVICES[@]}"; do printf -- '-p %s ' "${s%%:*}"; done)

export PAYBRIDGE_ENV="${PAYBRIDGE_ENV:-development}"
export PAYBRIDGE_CONFIG_DIR="${PAYBRIDGE_CONFIG_DIR:-$PWD/config}"
TOKEN="${PAYBRIDGE__API__TOKENS:-dev-token-change-me}"
export PAYBRIDGE__API__TOKENS="$TOKEN"
mkdir -p target/stack

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

for entry in "${SERVICES[@]}"; do
  name=${entry%%:*}
  "target/release/$name" >"target/stack/$name.log" 2>&1 &
  pids+=($!)
done

for entry in "${SERVICES[@]}"; do
  name=${entry%%:*} port=${entry##*:}
  for _ in $(seq 120); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "a service exited; see target/stack/*.log" >&2; exit 1; }
    done
    sleep 0.5
  done
done

cat <<INFO

paybridge is running (PAYBRIDGE_ENV=$PAYBRIDGE_ENV). Logs: target/stack/<service>.log

  order-query           http://127.0.0.1:8081   (docs: http://127.0.0.1:8081/docs)
  deposit-confirmation  http://127.0.0.1:8082   (docs: http://127.0.0.1:8082/docs)
  portone-gateway       http://127.0.0.1:8083   (docs: http://127.0.0.1:8083/docs)
  portone-sandbox       http://127.0.0.1:8089   (an offline fake of PortOne; docs: /docs)

API token (development only): $TOKEN

  curl -s -X POST http://127.0.0.1:8081/v1/orders \\
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
    -d '{"order_id":"DEMO-1","order_price_amount":"30000","billing_name":"홍길동","bank_account_no":"12312422234","bank_code_name":"국민은행"}'
  curl -s http://127.0.0.1:8081/bankda/orders
  curl -s -X POST http://127.0.0.1:8082/bankda/deposits/confirm -d '{"requests":[{"order_id":"DEMO-1"}]}'
  curl -s http://127.0.0.1:8081/v1/orders/DEMO-1 -H "Authorization: Bearer $TOKEN"     # now paid

A convenience-store payment, start to end (README, "Walkthrough"):

  curl -s -X POST http://127.0.0.1:8081/v1/orders -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"order_id":"DEMO-CVS-1","order_price_amount":"15000","billing_name":"김영희","bank_account_no":"1","bank_code_name":"우리은행","payment_method":"cvs"}'
  curl -s -X POST http://127.0.0.1:8083/v1/orders/DEMO-CVS-1/cvs -H "Authorization: Bearer $TOKEN"      # note imp_uid
  curl -s -X POST http://127.0.0.1:8089/__sandbox/cvs/<imp_uid>/pay -H 'Content-Type: application/json' -d '{}'
  curl -s http://127.0.0.1:8081/v1/orders/DEMO-CVS-1 -H "Authorization: Bearer $TOKEN"                 # paid, paid_via cvs

Ctrl-C stops the stack.
INFO
wait -n "${pids[@]}"
