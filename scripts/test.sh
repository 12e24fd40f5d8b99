#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, runs them, cleans up.
#   1. Rust unit and integration tests (the integration tests start the real avatard binary
#      on ephemeral ports and talk to it over HTTP).
#   2. The end-to-end test: the published `rocketchat-api` Python client, installed into a
#      virtual environment here, drives a real avatard.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust: unit and integration tests"
cargo test --workspace --all-targets --locked

echo "== Python: end-to-end with the rocketchat-api client"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
cargo build --locked -p avatard
AVATARD_BIN="$PWD/target/debug/avatard" .venv/bin/python -m pytest tests/e2e -q -p no:cacheprovider
