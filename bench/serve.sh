#!/usr/bin/env bash
# Serving benchmark: avatard against nginx serving the same avatar bytes as a static file.
#
# Both servers run on loopback with one worker (avatard --worker-threads 1, nginx worker_processes 1),
# pinned to one core; the load generator (wrk, or oha if wrk cannot be installed) is pinned to another
# core and drives every target with the same settings: keep-alive, CONNECTIONS connections, DURATION.
# Targets, measured one after the other in one run:
#   avatard stored   /avatar/admin            a stored PNG, from avatard's memory cache
#   avatard initials /avatar/nobody-here      unknown user: the initials SVG
#   avatard size=64  /avatar/admin?size=64    a resized rendition of the stored avatar
#   nginx static     /avatar.png              the bytes /avatar/admin answered, as a file
# Prints requests/s, p99 latency and the ratio to nginx for each, and where the CPU went: the server's
# and the load generator's CPU time over the run (100% = one core), and how busy their two cores were
# in all (other processes and interrupts included; a busy core the server did not use means the
# machine was not quiet).
#
# Usage: bash bench/serve.sh
# The DURATION of each target is split into ROUNDS slices, run round-robin across the targets.
# Environment: DURATION (20s), ROUNDS (5), CONNECTIONS (64), WARMUP (2s, 0 to skip), SERVER_CPU (0),
#              LOADGEN_CPU (1), KEEP_TMP=1 to keep the temp dir (logs, data) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-5}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'bench/serve.sh: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- tools
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq >&2 || true
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >&2
}

for tool in taskset curl python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
if ! command -v nginx >/dev/null; then
    log "installing nginx (Debian package)"
    apt_install nginx || die "could not install nginx"
fi
LOADGEN=wrk
if ! command -v wrk >/dev/null; then
    log "installing wrk (Debian package)"
    if ! apt_install wrk; then
        LOADGEN=oha
        if ! command -v oha >/dev/null; then
            log "wrk is not installable; installing oha with cargo"
            cargo install oha --locked >&2 || die "could not install wrk or oha"
        fi
    fi
fi
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 CPUs; server and load generator share a core"

# ---------------------------------------------------------------- build
log "building avatard (release)"
cargo build --release --locked -p avatard >&2
AVATARD="${CARGO_TARGET_DIR:-$ROOT/target}/release/avatard"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/avatard-bench.XXXXXX")
AVATARD_PID=
NGINX_PID=
cleanup() {
    local status=$?
    if [ -n "$AVATARD_PID" ]; then
        kill -TERM "$AVATARD_PID" 2>/dev/null || true
        wait "$AVATARD_PID" 2>/dev/null || true
    fi
    if [ -n "$NGINX_PID" ]; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- avatard
log "starting avatard on core $SERVER_CPU (one worker thread)"
ADMIN_PASS=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
ADMIN_USERNAME=admin ADMIN_PASS="$ADMIN_PASS" \
    taskset -c "$SERVER_CPU" "$AVATARD" serve \
    --listen 127.0.0.1:0 --data-dir "$TMP/data" --worker-threads 1 \
    >"$TMP/avatard.out" 2>"$TMP/avatard.log" &
AVATARD_PID=$!
AVATARD_URL=
for _ in $(seq 200); do
    AVATARD_URL=$(sed -n 's/^avatard listening on //p' "$TMP/avatard.out")
    [ -n "$AVATARD_URL" ] && break
    kill -0 "$AVATARD_PID" 2>/dev/null || {
        cat "$TMP/avatard.log" >&2
        die "avatard exited"
    }
    sleep 0.1
done
[ -n "$AVATARD_URL" ] || die "avatard did not start (see $TMP/avatard.log)"

log "logging in and uploading a generated avatar"
LOGIN=$(curl -sf "$AVATARD_URL/api/v1/login" -H 'Content-Type: application/json' \
    -d "{\"user\":\"admin\",\"password\":\"$ADMIN_PASS\"}") || die "login failed"
read -r USER_ID AUTH_TOKEN < <(printf '%s' "$LOGIN" |
    python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; print(d["userId"], d["authToken"])')

# A 200×200 PNG (the default Accounts_AvatarSize, so the server keeps its dimensions): a flat
# background and a disc with a little noise, about 10 KB once the server has re-encoded it. Standard
# library only.
python3 - "$TMP/upload.png" <<'EOF'
import random, struct, sys, zlib
random.seed(42)
w = h = 200
rows = bytearray()
for y in range(h):
    rows.append(0)  # filter type: none
    for x in range(w):
        if (x - 100) ** 2 + (y - 90) ** 2 < 50 ** 2:
            n = random.randrange(3)
            rows += bytes((200 + n, 150 + n, 120 + n))
        else:
            rows += bytes((40, 90, 160))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
EOF
curl -sf "$AVATARD_URL/api/v1/users.setAvatar" -H "X-User-Id: $USER_ID" -H "X-Auth-Token: $AUTH_TOKEN" \
    -F "image=@$TMP/upload.png;type=image/png" >/dev/null || die "users.setAvatar failed"

mkdir -p "$TMP/www"
STATUS=$(curl -s -o "$TMP/www/avatar.png" -D "$TMP/avatar.headers" -w '%{http_code}' "$AVATARD_URL/avatar/admin")
[ "$STATUS" = 200 ] || die "/avatar/admin answered $STATUS"
CONTENT_TYPE=$(sed -n 's/^[Cc]ontent-[Tt]ype: *\([^;[:space:]]*\).*/\1/p' "$TMP/avatar.headers")
[ -n "$CONTENT_TYPE" ] || die "/avatar/admin has no content type"

# ---------------------------------------------------------------- nginx
log "starting nginx on core $SERVER_CPU (one worker process)"
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
{
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    types { }
    default_type $CONTENT_TYPE;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/www;
    }
}
EOF
} >"$TMP/nginx/nginx.conf"
taskset -c "$SERVER_CPU" nginx -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" \
    2>>"$TMP/nginx/logs/error.log" &
NGINX_PID=$!
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
for _ in $(seq 100); do
    curl -sf -o /dev/null "$NGINX_URL/avatar.png" && break
    kill -0 "$NGINX_PID" 2>/dev/null || {
        cat "$TMP/nginx/logs/error.log" >&2
        die "nginx exited"
    }
    sleep 0.1
done
cmp -s "$TMP/www/avatar.png" <(curl -sf "$NGINX_URL/avatar.png") || die "nginx does not serve the avatar bytes"

# ---------------------------------------------------------------- measuring
TARGETS=(
    "avatard stored|$AVATARD_URL/avatar/admin|$AVATARD_PID"
    "avatard initials|$AVATARD_URL/avatar/nobody-here|$AVATARD_PID"
    "avatard size=64|$AVATARD_URL/avatar/admin?size=64|$AVATARD_PID"
    "nginx static|$NGINX_URL/avatar.png|$NGINX_PID"
)

# CPU ticks a process and its threads used, and its children (nginx's worker): "user system".
cpu_ticks() {
    local user=0 system=0 pid u s
    for pid in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        # Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name.
        read -r u s < <(sed 's/^.*) //' /proc/"$pid"/stat | awk '{print $12, $13}')
        user=$((user + u))
        system=$((system + s))
    done
    echo "$user $system"
}
# Busy jiffies and total jiffies of one CPU from /proc/stat.
core_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu {busy = $2 + $3 + $4 + $7 + $8; total = busy + $5 + $6; print busy, total}' /proc/stat
}
to_seconds() { # 20s, 1m, 500ms -> seconds
    python3 -c 'import re, sys
m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", sys.argv[1])
if not m: sys.exit("bad duration " + sys.argv[1])
print(float(m[1]) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m[2]])' "$1"
}
HZ=$(getconf CLK_TCK)

# One load run; prints "requests/s p99_ms errors". The load generator's CPU seconds (user system) go
# to OUT.time.
TIMEFORMAT='%U %S'
run_load() {
    local url=$1 duration=$2 out=$3
    if [ "$LOADGEN" = wrk ]; then
        { time taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONNECTIONS" -d"$duration" --latency "$url" >"$out"; } 2>"$out.time"
        awk '
            function ms(v) { if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0;
                             if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
            $1 == "99%" { p99 = ms($2) }
            /^Requests\/sec:/ { rps = $2 }
            /Non-2xx or 3xx responses:/ { errors += $NF }
            /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
            END { printf "%.0f %.2f %d\n", rps, p99, errors }' "$out"
    else
        { time taskset -c "$LOADGEN_CPU" oha -z "$duration" -c "$CONNECTIONS" --no-tui --output-format json "$url" >"$out"; } 2>"$out.time"
        python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
errors = sum(n for code, n in codes.items() if not code.startswith("2")) + sum(d.get("errorDistribution", {}).values())
print("%.0f %.2f %d" % (d["summary"]["requestsPerSec"], d["latencyPercentiles"]["p99"] * 1000, errors))' "$out"
    fi
}

# Check each target answers 200 before loading it.
for target in "${TARGETS[@]}"; do
    IFS='|' read -r name url _ <<<"$target"
    read -r code ctype size < <(curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download}\n' "$url")
    [ "$code" = 200 ] || die "$name ($url) answered $code"
    printf '%s|%s|%s\n' "$name" "${ctype%%;*}" "$size" >>"$TMP/bodies"
done

SECONDS_TOTAL=$(to_seconds "$DURATION")
# wrk takes whole seconds.
ROUND_SECONDS=$(awk -v t="$SECONDS_TOTAL" -v r="$ROUNDS" 'BEGIN {s = int(t / r); print s < 1 ? 1 : s}')
log "load: $LOADGEN, $CONNECTIONS keep-alive connections, $DURATION per target in $ROUNDS interleaved rounds (after a $WARMUP warm-up), on core $LOADGEN_CPU"
if [ "$WARMUP" != 0 ]; then
    for target in "${TARGETS[@]}"; do
        IFS='|' read -r _ url _ <<<"$target"
        run_load "$url" "$WARMUP" "$TMP/warmup.out" >/dev/null
    done
fi
# Round-robin: every target gets a slice of each round, so a slow spell of the (virtual) machine
# hits all of them alike instead of whichever target happened to run then.
: >"$TMP/rounds"
for round in $(seq "$ROUNDS"); do
    for target in "${TARGETS[@]}"; do
        IFS='|' read -r name url pid <<<"$target"
        log "round $round/$ROUNDS, $name: $url"
        read -r user0 system0 < <(cpu_ticks "$pid")
        read -r sb0 st0 < <(core_ticks "$SERVER_CPU")
        read -r lb0 lt0 < <(core_ticks "$LOADGEN_CPU")
        out="$TMP/load-${name// /-}-$round.out"
        read -r rps p99 errors < <(run_load "$url" "${ROUND_SECONDS}s" "$out")
        [ -n "$rps" ] || die "the load generator failed on $url (see $out)"
        read -r user1 system1 < <(cpu_ticks "$pid")
        read -r sb1 st1 < <(core_ticks "$SERVER_CPU")
        read -r lb1 lt1 < <(core_ticks "$LOADGEN_CPU")
        loadgen_seconds=$(tail -1 "$out.time" | awk '{print $1 + $2}')
        # name rps p99 errors server-cpu-ticks loadgen-cpu-seconds server-core-busy/total
        # loadgen-core-busy/total server-user-ticks server-system-ticks
        printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$name" "$rps" "$p99" "$errors" \
            $((user1 - user0 + system1 - system0)) "$loadgen_seconds" $((sb1 - sb0)) $((st1 - st0)) \
            $((lb1 - lb0)) $((lt1 - lt0)) $((user1 - user0)) $((system1 - system0)) >>"$TMP/rounds"
    done
done

# ---------------------------------------------------------------- report
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || GIT_REV="$GIT_REV (with uncommitted changes)"
if [ "$LOADGEN" = wrk ]; then
    LOADGEN_VERSION=$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}' || true)
else
    LOADGEN_VERSION=$(oha --version)
fi
echo
echo "machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "versions: avatard $GIT_REV; $(nginx -v 2>&1 | sed 's/^nginx version: //'); $LOADGEN_VERSION"
echo "load:     $LOADGEN -t1 -c$CONNECTIONS (keep-alive), $DURATION per target in $ROUNDS interleaved rounds, on core $LOADGEN_CPU; servers on core $SERVER_CPU, one worker each"
echo
python3 - "$TMP/rounds" "$TMP/bodies" "$HZ" "$ROUND_SECONDS" <<'EOF'
import statistics, sys
hz, round_seconds = int(sys.argv[3]), float(sys.argv[4])
rounds = {}
for line in open(sys.argv[1]):
    name, *values = line.rstrip("\n").split("|")
    rounds.setdefault(name, []).append([float(v) for v in values])
rows = []
for name, runs in rounds.items():
    seconds = round_seconds * len(runs)
    total = lambda i: sum(r[i] for r in runs)
    pct = lambda busy, all_: f"{100 * busy / all_:.0f}" if all_ else "0"
    requests = sum(r[0] for r in runs) * round_seconds
    per_request = lambda i: f"{1e6 * total(i) / hz / requests:.1f}" if requests else "-"
    rows.append([name, f"{total(0) / len(runs):.0f}", f"{statistics.median(r[1] for r in runs):.2f}",
                 f"{total(2):.0f}", f"{100 * total(3) / hz / seconds:.0f}", f"{100 * total(4) / seconds:.0f}",
                 pct(total(5), total(6)), pct(total(7), total(8)),
                 f"{min(r[0] for r in runs):,.0f}-{max(r[0] for r in runs):,.0f}",
                 f"{per_request(9)} + {per_request(10)} us"])
bodies = {n: (t, s) for n, t, s in (line.rstrip("\n").split("|") for line in open(sys.argv[2]))}
nginx = next(float(r[1]) for r in rows if r[0] == "nginx static")
head = ("target", "body", "requests/s", "rounds", "p99 latency", "vs nginx", "errors", "server CPU",
        "per request", "load gen CPU", "cores busy")
table = []
for name, rps, p99, errors, server_cpu, loadgen_cpu, server_core, loadgen_core, spread, per_request in rows:
    ctype, size = bodies[name]
    table.append((name, f"{size} B {ctype}", f"{float(rps):,.0f}", spread, f"{float(p99):.2f} ms",
                  f"{float(rps) / nginx:.2f}x" if nginx else "-", errors, f"{server_cpu}%", per_request,
                  f"{loadgen_cpu}%", f"{server_core}% / {loadgen_core}%"))
widths = [max(len(str(r[i])) for r in [head] + table) for i in range(len(head))]
fmt = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
print(fmt(head))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(fmt(r))
print("requests/s: the mean over the rounds; rounds: the slowest and fastest round; p99: the median of the rounds'")
print("server CPU, load gen CPU: the process's CPU time over the run (100% = one core);")
print("per request: the server's CPU time per request, user + kernel (the kernel's share includes the TCP work of the")
print("loopback delivery);")
print("cores busy: the server's core / the load generator's core, all processes and interrupts included")
print()
ratio = {r[0]: float(r[1]) / nginx for r in rows}
for name, goal in (("avatard stored", 1.0), ("avatard initials", 0.9)):
    verdict = "meets" if ratio[name] >= goal else "BELOW"
    print(f"{name}: {ratio[name]:.2f}x nginx, target >= {goal:.1f}x: {verdict}")
for name, _, _, _, server_cpu, loadgen_cpu, server_core, loadgen_core, _, _ in rows:
    others = max(int(server_core) - int(server_cpu), int(loadgen_core) - int(loadgen_cpu))
    if others > 10:
        print(f"warning: other work took {others}% of a core during {name!r}: the machine was not quiet")
if any(int(r[3]) for r in rows):
    print("warning: some requests failed (errors column); see the load generator output")
EOF
