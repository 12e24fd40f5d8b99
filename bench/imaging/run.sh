#!/usr/bin/env bash
# Imaging benchmark: avatard's upload pipeline (avatard_imaging::process_avatar) against sharp, the
# engine Rocket.Chat uses, doing the same job on the same corpus on the same core.
#
# The job, for each corpus image: decode (every frame of an animation), turn upright by the EXIF
# orientation, square to 200×200 (cover for opaque images, contain on transparency for images with
# alpha) and encode in the input's format (SVG becomes PNG). The corpus (gen-corpus.js, generated
# into corpus/ on first use): a 12 MP JPEG photo with EXIF orientation 6, a 4000×4000 PNG with
# alpha, a 100-frame animated GIF, a 4000×3000 lossy WebP and an SVG logo.
#
# Each engine runs in its own process per image and round (so peak RSS is per image and engine),
# pinned to core CPU with taskset; the two engines alternate, round after round, so that a slow
# spell of the machine hits both. Each process reads the file once, runs the job WARMUP times
# untimed, then ITERATIONS times timed. Prints, per image: the median wall time per job of each
# engine over all iterations of all rounds, the ratio ours/sharp (with the range of the per-round
# ratios), each engine's peak RSS (the largest of its processes') and whether the target is met
# (ratio <= 1.0; <= 0.5 on the JPEG photo); then what each engine produced, to show it was the same
# job; then the table again as markdown for docs/performance.md.
#
# Usage: bash bench/imaging/run.sh
# Environment: ROUNDS (5), ITERATIONS (per image: photo.jpg 20, alpha.png 5, animated.gif 1,
#              large.webp 8, logo.svg 20; a number here applies to every image), WARMUP (2; 1 for the
#              GIF), IMAGES (space-separated corpus names, default all five), CPU (0),
#              REGENERATE=1 to rebuild the corpus, KEEP_TMP=1 to keep the raw results and outputs.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
ROOT=$(cd ../.. && pwd)

ROUNDS=${ROUNDS:-5}
CPU=${CPU:-0}
IMAGES=${IMAGES:-photo.jpg alpha.png animated.gif large.webp logo.svg}
export PATH="$PATH:/usr/sbin:/sbin:$HOME/.cargo/bin"

log() { printf '== %s\n' "$*" >&2; }
die() {
    printf 'bench/imaging/run.sh: %s\n' "$*" >&2
    exit 1
}

# Iterations per round and warm-up runs per process for each image, chosen so that a full run
# takes a few minutes: sharp re-encodes the 100-frame GIF in seconds, the photo in tens of ms.
default_iterations() {
    case $1 in
    photo.jpg | logo.svg) echo 20 ;;
    large.webp) echo 8 ;;
    alpha.png) echo 5 ;;
    animated.gif) echo 1 ;;
    *) echo 5 ;;
    esac
}
default_warmup() {
    case $1 in
    animated.gif) echo 1 ;;
    *) echo 2 ;;
    esac
}

for tool in node npm cargo taskset python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
[ "$(nproc)" -ge 2 ] || log "warning: 1 CPU: the benchmark shares its core with everything else"

# ---------------------------------------------------------------- sharp and the corpus
# shellcheck source=corpus.sh
source ./corpus.sh

# ---------------------------------------------------------------- avatard
# The pipeline binary resolves its dependencies to the versions the server is built with: it starts
# from the root Cargo.lock on every build (cargo drops what it does not need), so no network is
# needed and the benchmark measures the crates the server ships.
log "building the pipeline binary (cargo build --release)"
cp "$ROOT/Cargo.lock" pipeline/Cargo.lock
cargo build --release --manifest-path pipeline/Cargo.toml >&2
OURS="$HERE/pipeline/target/release/avatard-bench-imaging"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/avatard-imaging-bench.XXXXXX")
cleanup() {
    local status=$?
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
mkdir -p "$TMP/results" "$TMP/out"

# ---------------------------------------------------------------- measuring
# Busy and total jiffies of one CPU, from /proc/stat.
core_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu {busy = $2 + $3 + $4 + $7 + $8; total = busy + $5 + $6; print busy, total}' /proc/stat
}
HZ=$(getconf CLK_TCK)
TIMEFORMAT='%R %U %S'

# One process of one engine on one image: its JSON line goes to RESULT, and "wall user system
# core-busy-ticks" (the process's own times, and how busy its core was meanwhile) to RESULT.cpu.
run_engine() {
    local engine=$1 image=$2 iterations=$3 warmup=$4 result=$5
    local cmd b0 t0 b1 t1
    if [ "$engine" = avatard ]; then
        cmd=("$OURS" "corpus/$image" "$iterations" "$warmup" "$TMP/out/$image.avatard")
    else
        cmd=(node sharp-bench.js "corpus/$image" "$iterations" "$warmup" "$TMP/out/$image.sharp")
    fi
    read -r b0 t0 < <(core_ticks "$CPU")
    { time taskset -c "$CPU" "${cmd[@]}" >"$result" 2>"$result.err"; } 2>"$result.time" ||
        die "$engine failed on $image: $(cat "$result.err")"
    read -r b1 t1 < <(core_ticks "$CPU")
    printf '%s %s\n' "$(tail -1 "$result.time")" $((b1 - b0)) >"$result.cpu"
}

log "measuring on core $CPU: $ROUNDS rounds; images: $IMAGES"
for round in $(seq "$ROUNDS"); do
    # Alternate which engine goes first, so neither always runs after the other.
    if [ $((round % 2)) = 1 ]; then engines="avatard sharp"; else engines="sharp avatard"; fi
    for image in $IMAGES; do
        iterations=${ITERATIONS:-$(default_iterations "$image")}
        warmup=${WARMUP:-$(default_warmup "$image")}
        for engine in $engines; do
            log "round $round/$ROUNDS, $image, $engine ($iterations iterations after $warmup warm-up)"
            run_engine "$engine" "$image" "$iterations" "$warmup" "$TMP/results/$image.$engine.$round.json"
        done
    done
done

# ---------------------------------------------------------------- report
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || GIT_REV="$GIT_REV (with uncommitted changes)"
SHARP_VERSION=$(node -e 'const s = require("sharp"); console.log(`sharp ${s.versions.sharp}, libvips ${s.versions.vips}, concurrency ${s.concurrency()}, simd ${s.simd()}`)')
MACHINE="$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
VERSIONS="avatard $GIT_REV ($(rustc --version | awk '{print $1, $2}'), release, thin LTO, mimalloc); $SHARP_VERSION (node $(node --version))"
SETUP="each engine in its own process per image and round, pinned to core $CPU; $ROUNDS rounds; 200×200 output"

echo
echo "machine:  $MACHINE"
echo "versions: $VERSIONS"
echo "setup:    $SETUP"
echo
echo "What each engine produced (its last output, read with sharp):"
echo
node check-outputs.js corpus "$TMP/out" $IMAGES
echo
python3 - "$TMP/results" "$TMP/out/check.json" "$HZ" "$MACHINE" "$VERSIONS" "$SETUP" $IMAGES <<'EOF'
import json, os, statistics, sys

results, check_file, hz, machine, versions, setup = sys.argv[1:7]
hz = int(hz)
images = sys.argv[7:]
check = json.load(open(check_file))
TARGETS = {"photo.jpg": 0.5}

def runs(image, engine):
    out = []
    for name in sorted(os.listdir(results)):
        if name.endswith(".json") and name.startswith(image + "." + engine + "."):
            data = json.load(open(os.path.join(results, name)))
            wall, user, system, busy = open(os.path.join(results, name + ".cpu")).read().split()
            data["wall_s"], data["cpu_s"], data["busy_s"] = float(wall), float(user) + float(system), int(busy) / hz
            out.append(data)
    return out

rows, warnings = [], []
for image in images:
    ours, sharp = runs(image, "avatard"), runs(image, "sharp")
    ours_all = [t for r in ours for t in r["times_ms"]]
    sharp_all = [t for r in sharp for t in r["times_ms"]]
    ours_med, sharp_med = statistics.median(ours_all), statistics.median(sharp_all)
    ratio = ours_med / sharp_med
    per_round = [statistics.median(o["times_ms"]) / statistics.median(s["times_ms"]) for o, s in zip(ours, sharp)]
    target = TARGETS.get(image, 1.0)
    verdict = check[image]
    if not verdict["same"]:
        met = "n/a: not the same job"
    else:
        met = "met" if ratio <= target else "NOT met"
    size = os.path.getsize(os.path.join("corpus", image))
    rows.append({
        "image": image, "input": f"{size / 1e6:.2f} MB, {verdict['input']}",
        "ours": ours_med, "sharp": sharp_med, "ratio": ratio,
        "rounds": f"{min(per_round):.2f}-{max(per_round):.2f}",
        "ours_rss": max(r["max_rss_kib"] for r in ours) / 1024, "sharp_rss": max(r["max_rss_kib"] for r in sharp) / 1024,
        "target": f"<= {target:.1f}", "met": met, "n": (len(ours_all), len(sharp_all)),
    })
    # Other work on the core: its busy time beyond what the engine's own process used.
    others = {}
    for engine, rs in (("avatard", ours), ("sharp", sharp)):
        wall = sum(r["wall_s"] for r in rs)
        others[engine] = (sum(r["busy_s"] for r in rs) - sum(r["cpu_s"] for r in rs)) / wall if wall else 0
    if max(others.values()) > 0.05:
        warnings.append(f"warning: {image}: other work took {100 * others['avatard']:.0f}% (during avatard) / "
                        f"{100 * others['sharp']:.0f}% (during sharp) of the core: the machine was not quiet; repeat the run")
    if not verdict["same"]:
        warnings.append(f"{image}: the engines did not do the same job ({verdict['note']}); its ratio is not comparable")

head = ("image", "input", "ours ms", "sharp ms", "ours/sharp", "rounds", "ours RSS", "sharp RSS", "target", "verdict")
def cells(r):
    return (r["image"], r["input"], f"{r['ours']:.1f}", f"{r['sharp']:.1f}", f"{r['ratio']:.2f}", r["rounds"],
            f"{r['ours_rss']:.0f} MB", f"{r['sharp_rss']:.0f} MB", r["target"], r["met"])
table = [cells(r) for r in rows]
right = {2, 3, 4, 6, 7}
widths = [max(len(str(t[i])) for t in [head] + table) for i in range(len(head))]
line = lambda t: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(t, widths)))
print(line(head))
for t in table:
    print(line(t))
print()
print("ours ms, sharp ms: the median wall time of one job over all iterations of all rounds")
counts = ", ".join("%s %d" % (r["image"], r["n"][0]) for r in rows)
print(f"  (iterations per engine: {counts});")
print("rounds: the lowest and highest per-round ratio; RSS: peak resident memory (ru_maxrss) of the")
print("  engine's process, the largest over the rounds; node and its libraries included for sharp")
for w in warnings:
    print(w)

print()
print("---- markdown (docs/performance.md) ----")
print()
print(f"Machine: {machine}. Versions: {versions}. Setup: {setup}.")
print()
mhead = ("image", "input", "ours (median)", "sharp (median)", "ours/sharp", "per-round ratio", "ours peak RSS", "sharp peak RSS", "target", "verdict")
print("| " + " | ".join(mhead) + " |")
print("|" + "|".join("---:" if i in {2, 3, 4, 6, 7} else "---" for i in range(len(mhead))) + "|")
for r in rows:
    print(f"| {r['image']} | {r['input']} | {r['ours']:.1f} ms | {r['sharp']:.1f} ms | {r['ratio']:.2f}x | {r['rounds']} | "
          f"{r['ours_rss']:.0f} MB | {r['sharp_rss']:.0f} MB | {r['target']} | {r['met']} |")
EOF
