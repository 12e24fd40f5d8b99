#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs and starts what the tests need, runs them, and
# stops it all again.
#   1. Throwaway PostgreSQL and SeaweedFS (S3) servers (scripts/services.sh), a Python venv.
#   2. Every Rust test on the embedded configuration (SQLite + files); the storage tests also run
#      against PostgreSQL and S3.
#   3. The integration suite again with every server on PostgreSQL + S3, plus the two-replica tests.
#   4. The end-to-end test (the published rocketchat-api client) on both configurations.
#   5. schemathesis against the OpenAPI document (scripts/schemathesis.sh).
#   6. A smoke run of every fuzz target over its corpus (scripts/fuzz-smoke.sh; builds with nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
start_services

echo "== Rust: every test, embedded configuration (SQLite + files)"
cargo test --workspace --all-targets --locked -- --skip scale_out_

# The same packages as above (--workspace), so cargo reuses that build: a narrower
# one (-p avatard) resolves features differently and compiles everything a second time.
echo "== Rust: integration suite and two replicas, scale-out configuration (PostgreSQL + S3)"
AVATARD_TEST_SCALE_OUT=1 cargo test --workspace --locked --test server

echo "== Python: end-to-end with the rocketchat-api client, both configurations"
# Built by the integration suite above (cargo builds a package's binary for its integration tests).
export AVATARD_BIN="$PWD/target/debug/avatard"
.venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider
AVATARD_TEST_SCALE_OUT=1 .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider

echo "== OpenAPI: schemathesis against /api/openapi.json (no 5xx, answers as documented)"
scripts/schemathesis.sh

echo "== Fuzzing: every cargo-fuzz target over its checked-in corpus, 10 s each"
bash scripts/fuzz-smoke.sh
