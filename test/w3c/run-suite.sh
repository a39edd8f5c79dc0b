#!/usr/bin/env bash
# Runs the official W3C Trace Context suite (the `test/` folder of w3c/trace-context) against
# `npm run w3c:service`, at STRICT_LEVEL=2 SPEC_LEVEL=2. Usage: test/w3c/run-suite.sh <suite test/ dir>
# Needs Debian's python3-aiohttp, which imports only under /usr/bin/python3.
set -euo pipefail
suite="$1"
port="${W3C_SERVICE_PORT:-5099}"
cd "$(dirname "$0")/../.."
PORT="$port" node --import tsx test/w3c/service.ts > /tmp/sightline-w3c-service.log 2>&1 &
service=$!
trap 'kill "$service" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
cd "$suite"
STRICT_LEVEL=2 SPEC_LEVEL=2 /usr/bin/python3 test.py "http://127.0.0.1:$port/test"
