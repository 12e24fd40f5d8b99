"""Starts a real avatard (the binary named by AVATARD_BIN) on a free port for the end-to-end tests."""

import os
import subprocess
import tempfile

import pytest

ADMIN = "admin"
ADMIN_PASS = "admin-e2e-pass"


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("AVATARD_BIN", "target/debug/avatard")
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, ADMIN_USERNAME=ADMIN, ADMIN_PASS=ADMIN_PASS, RUST_LOG="warn")
        process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = process.stdout.readline().strip()
            prefix = "avatard listening on "
            assert line.startswith(prefix), f"unexpected first line: {line!r}"
            yield line[len(prefix):]
        finally:
            process.terminate()
            process.wait(timeout=10)
