#!/usr/bin/env bash
# The server against its own OpenAPI document: schemathesis (tests/e2e/requirements.txt) generates
# requests from /api/openapi.json, valid and invalid, and checks every answer: never a 5xx, and
# status, content type, headers and body as documented.
#   AVATARD_BIN      the server binary [target/debug/avatard]
#   PYTHON           a Python with schemathesis installed [.venv/bin/python, made by scripts/test.sh]
#   ST_MAX_EXAMPLES  cases per operation and phase [25]
#   ST_SEED          the seed [20240601]
#   ST_KEEP          keep the work folder (server log, schemathesis reports) even on success
# Prints the operations and requests tested, the failed checks and the 5xx answers seen per pass;
# exits non-zero on any failure. Takes well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

AVATARD_BIN="${AVATARD_BIN:-target/debug/avatard}"
PYTHON="${PYTHON:-.venv/bin/python}"
# Absolute, as schemathesis runs in the work folder (it keeps a `.schemathesis` cache in its
# current folder). Not through realpath: a venv's python is a symlink whose target is not the venv.
case "$PYTHON" in */*) PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")" ;; esac
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"
SEED="${ST_SEED:-20240601}"
ADMIN_USERNAME=admin
ADMIN_PASS=admin-pass

work="$(mktemp -d)"
keep="${ST_KEEP:-}"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$keep" ]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# The server on a port of its own, with its own SQLite database and blob folder. TEST_MODE switches
# the API rate limiter off (R1.10): thousands of calls from one address would otherwise be 429s
# after the first few of each route.
mkdir -p "$work/data"
mkfifo "$work/stdout"
ADMIN_USERNAME="$ADMIN_USERNAME" ADMIN_PASS="$ADMIN_PASS" ADMIN_EMAIL=admin@example.com \
    TEST_MODE=true RUST_LOG=warn \
    "$AVATARD_BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
    --database-url "sqlite://$work/data/avatard.db?mode=rwc" --storage-url "file://$work/data/blobs" \
    >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
exec 3<"$work/stdout"
line=""
if ! read -r -t 30 line <&3 || [[ "$line" != "avatard listening on "* ]]; then
    echo "schemathesis.sh: avatard did not start: ${line:-no output}" >&2
    head -n 20 "$work/server.log" >&2
    exit 1
fi
# Keep draining the server's stdout so it never blocks on a full pipe.
cat <&3 >/dev/null &
URL="${line#avatard listening on }"
echo "== avatard at $URL"

# A new session of the admin: prints its userId and authToken.
login() {
    "$PYTHON" - "$URL" "$ADMIN_USERNAME" "$ADMIN_PASS" <<'PY'
import json, sys, urllib.request
url, user, password = sys.argv[1:]
request = urllib.request.Request(
    url + "/api/v1/login",
    data=json.dumps({"user": user, "password": password}).encode(),
    headers={"Content-Type": "application/json"},
)
data = json.load(urllib.request.urlopen(request))["data"]
print(data["userId"], data["authToken"])
PY
}

# One schemathesis run over the operations its arguments select, as the given session (none when
# the ids are empty).
#   Positive and negative cases, in the examples, coverage and fuzzing phases; `--max-examples`
#   bounds the cases of each operation in each phase. Stateful testing is off: it chains calls
#   through the document's links and would log the session out or delete the admin mid-run.
#   One worker: the server's state then evolves the same way on every run of a seed (and Python
#   3.11.7's `ast`, which Hypothesis uses, fails when two threads parse at once).
# Checks: the five that compare an answer with the document. Not `negative_data_rejection` and
# `positive_data_acceptance`: Rocket.Chat accepts bodies no schema can describe (invalid JSON is
# `{}`, R1.9) and refuses valid-looking ones on the data's merits (unknown users, permissions).
run() {
    local name="$1" user_id="$2" token="$3"
    shift 3
    local auth=(--generation-with-security-parameters true)
    if [ -n "$user_id" ]; then
        auth=(--header "X-User-Id: $user_id" --header "X-Auth-Token: $token"
            --generation-with-security-parameters false)
    fi
    echo "== schemathesis: $name"
    local status=0
    (cd "$work" && "$PYTHON" -m schemathesis.cli run "$URL/api/openapi.json" \
        --url "$URL" "${auth[@]}" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing \
        --max-examples "$MAX_EXAMPLES" --seed "$SEED" --generation-database none \
        --workers 1 --request-timeout 10 --max-redirects 0 --no-shrink \
        --suppress-health-check all --no-color \
        --report ndjson --report-ndjson-path "$work/$name.ndjson" \
        "$@") >"$work/$name.log" 2>&1 || status=$?
    # The verdict and what failed; the whole output is in $work/$name.log.
    if [ "$status" -eq 0 ]; then
        sed -n '/^Test cases:/,/^$/p' "$work/$name.log"
    elif grep -q '^=* \(FAILURES\|ERRORS\) =*$' "$work/$name.log"; then
        sed -n '/^=* \(FAILURES\|ERRORS\) =*$/,$p' "$work/$name.log"
    else
        tail -n 20 "$work/$name.log"
    fi
    # Figures from the run's event log: operations, requests sent, failed checks, 5xx answers.
    "$PYTHON" - "$work/$name.ndjson" "$name" >>"$work/summary" <<'PY'
import json, sys
path, name = sys.argv[1:]
operations, requests, failures, server_errors = set(), 0, 0, 0
try:
    lines = open(path).readlines()
except OSError:
    lines = []
for line in lines:
    event = json.loads(line).get("ScenarioFinished")
    if not event:
        continue
    recorder = event.get("recorder") or {}
    operations.add(recorder.get("label"))
    for interaction in (recorder.get("interactions") or {}).values():
        status = (interaction.get("response") or {}).get("status_code")
        if status is not None:
            requests += 1
            server_errors += status >= 500
    for checks in (recorder.get("checks") or {}).values():
        failures += sum(check.get("status") == "FAILURE" for check in checks)
print(name, len(operations), requests, failures, server_errors)
PY
    return "$status"
}

# Every session is opened before any fuzzing: fuzzed logins fail often enough to block the admin's
# name and this address for a while (Block_Multiple_Failed_Logins_*).
read -r admin_id admin_token <<<"$(login)"
read -r logout_id logout_token <<<"$(login)"
: >"$work/summary"
failed=0

# 1. No credentials, every operation: the 401s, and the routes open to anyone (login, register,
#    users.getAvatar, /avatar, the probes). Schemathesis makes up X-User-Id/X-Auth-Token values.
run anonymous "" "" || failed=1

# 2. As the admin, everything but what would end the session the passes after it need: `logout`
#    revokes the token in use and `users.delete` may delete the admin. `avatars.events` only runs
#    anonymously (1.): a stream the admin may read never ends, so every case would be a timeout
#    (crates/avatard/tests/server/events.rs covers it).
run admin "$admin_id" "$admin_token" \
    --exclude-path-regex '^/api/v1/(logout|users\.delete|avatars\.events)$' || failed=1

# 3. `logout`, with a session of its own: the first case revokes it, the rest are 401s.
run logout "$logout_id" "$logout_token" --include-path /api/v1/logout || failed=1

# 4. `users.delete` as the admin, last: it may delete the admin, after which nothing needs them.
run delete "$admin_id" "$admin_token" --include-path /api/v1/users.delete || failed=1

echo "== summary (seed $SEED, at most $MAX_EXAMPLES cases per operation and phase)"
awk 'BEGIN { printf "%-10s %10s %9s %14s %5s\n", "pass", "operations", "requests", "failed checks", "5xx" }
     { printf "%-10s %10s %9s %14s %5s\n", $1, $2, $3, $4, $5; r += $3; f += $4; e += $5 }
     END { printf "%-10s %10s %9s %14s %5s\n", "total", "", r, f, e }' "$work/summary"
server_errors=$(awk '{ e += $5 } END { print e + 0 }' "$work/summary")
if [ "$(wc -l <"$work/summary")" -ne 4 ] || [ "$(awk '$3 == 0' "$work/summary")" != "" ]; then
    echo "schemathesis.sh: a pass sent no request" >&2
    failed=1
fi
if grep -q "panicked" "$work/server.log"; then
    echo "schemathesis.sh: the server panicked:" >&2
    grep -A3 "panicked" "$work/server.log" >&2
    failed=1
fi
if [ "$failed" -ne 0 ] || [ "$server_errors" -ne 0 ]; then
    echo "schemathesis.sh: FAILED (server log and reports kept)" >&2
    keep=1
    exit 1
fi
echo "schemathesis.sh: passed"
