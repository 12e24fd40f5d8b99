#!/usr/bin/env bash
# Memory under concurrent uploads: avatard's peak RSS while C clients upload a large image at once.
#
# For each corpus image and each concurrency C: start the release server afresh (embedded storage,
# default settings: --upload-memory-bytes 256 MiB, one image worker per CPU), log in, send C
# concurrent users.setAvatar uploads of the image with curl, and read the server's peak RSS (VmHWM)
# once all have been answered. Prints, per run: the file size, C, the RSS before the uploads and at
# the peak, how long the burst took, and how the uploads were answered (200, or 429 for those that
# found no room in the budget within --upload-wait-secs). The peak should level off as C grows: it
# is bounded by the upload budget plus the image workers' decoding, not by C.
#
# Usage: bash bench/imaging/memory.sh
# Environment: IMAGES (default "photo.jpg alpha.png animated.gif large.webp"), CONCURRENCY
#              (default "1 4 16 64"), SERVER_ARGS (extra arguments for avatard serve).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)

IMAGES=${IMAGES:-photo.jpg alpha.png animated.gif large.webp}
CONCURRENCY=${CONCURRENCY:-1 4 16 64}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'bench/imaging/memory.sh: %s\n' "$*" >&2
    exit 1
}
for tool in node npm cargo curl python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# shellcheck source=corpus.sh
source ./corpus.sh

log "building avatard (release)"
cargo build --release --locked -p avatard --manifest-path "$ROOT/Cargo.toml" >&2
AVATARD="$ROOT/target/release/avatard"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/avatard-memory-bench.XXXXXX")
SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}
cleanup() {
    local status=$?
    stop_server
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

kib() { awk -v field="$1:" '$1 == field {print $2}' /proc/"$SERVER_PID"/status; }

# One burst: prints "rss_before_kib peak_kib seconds statuses".
burst() {
    local image=$1 concurrency=$2 run=$TMP/run
    rm -rf "$run" && mkdir -p "$run"
    local password
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
    # shellcheck disable=SC2086
    ADMIN_USERNAME=admin ADMIN_PASS="$password" "$AVATARD" serve --listen 127.0.0.1:0 \
        --data-dir "$run/data" ${SERVER_ARGS:-} >"$run/out" 2>"$run/log" &
    SERVER_PID=$!
    local url=
    for _ in $(seq 200); do
        url=$(sed -n 's/^avatard listening on //p' "$run/out")
        [ -n "$url" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "avatard exited: $(cat "$run/log")"
        sleep 0.1
    done
    [ -n "$url" ] || die "avatard did not start"
    local user_id token
    read -r user_id token < <(curl -sf "$url/api/v1/login" -H 'Content-Type: application/json' \
        -d "{\"user\":\"admin\",\"password\":\"$password\"}" |
        python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; print(d["userId"], d["authToken"])')
    local before started pids=() i
    before=$(kib VmRSS)
    started=$(date +%s.%N)
    for i in $(seq "$concurrency"); do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 600 "$url/api/v1/users.setAvatar" \
            -H "X-User-Id: $user_id" -H "X-Auth-Token: $token" \
            -F "image=@corpus/$image" >"$run/status.$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    local seconds peak statuses
    seconds=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")
    peak=$(kib VmHWM)
    statuses=$(cat "$run"/status.* | sort | uniq -c | awk '{printf "%s%s×%s", sep, $1, $2; sep=" "}')
    stop_server
    echo "$before $peak $seconds $statuses"
}

GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT_REV="$GIT_REV (with uncommitted changes)"
echo "machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "versions: avatard $GIT_REV (release); server arguments: ${SERVER_ARGS:-defaults}"
echo
echo "| image | file | concurrent uploads | RSS before | peak RSS | burst | answers |"
echo "|---|---:|---:|---:|---:|---:|---|"
for image in $IMAGES; do
    size=$(python3 -c "import os, sys; print(f'{os.path.getsize(sys.argv[1]) / 1e6:.1f} MB')" "corpus/$image")
    for concurrency in $CONCURRENCY; do
        log "$image: $concurrency concurrent uploads"
        # Not in a subshell, so that the trap can stop a server left running.
        burst "$image" "$concurrency" >"$TMP/result"
        read -r before peak seconds statuses <"$TMP/result"
        printf '| %s | %s | %s | %d MB | %d MB | %s s | %s |\n' "$image" "$size" "$concurrency" \
            $((before / 1024)) $((peak / 1024)) "$seconds" "$statuses"
    done
done
