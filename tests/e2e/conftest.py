"""Starts a real avatard (the binary named by AVATARD_BIN) on a free port for the end-to-end tests.

With AVATARD_TEST_SCALE_OUT=1 it runs on a fresh database of the test PostgreSQL and a fresh prefix
of the test S3 bucket (scripts/services.sh starts both), otherwise on embedded storage.
"""

import os
import subprocess
import tempfile
import uuid

import pytest

ADMIN = "admin"
ADMIN_PASS = "admin-e2e-pass"


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("AVATARD_BIN", "target/debug/avatard")
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, ADMIN_USERNAME=ADMIN, ADMIN_PASS=ADMIN_PASS, RUST_LOG="warn", TEST_MODE="true")
        if os.environ.get("AVATARD_TEST_SCALE_OUT"):
            env.update(scale_out_storage())
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


def scale_out_storage():
    """A fresh database and S3 prefix, as AVATARD_DATABASE_URL / AVATARD_STORAGE_URL."""
    admin_url = os.environ["AVATARD_TEST_POSTGRES_URL"]
    name = f"avatard_e2e_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", admin_url, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    base = admin_url.rsplit("/", 1)[0]
    return {
        "AVATARD_DATABASE_URL": f"{base}/{name}",
        "AVATARD_STORAGE_URL": f"{os.environ['AVATARD_TEST_S3_URL']}/{name}",
    }
