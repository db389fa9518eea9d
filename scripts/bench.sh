#!/usr/bin/env bash
# Render benchmark.
#
# 1. Library throughput (cargo bench, no extra dependency): parse, validate,
#    plan and render, in memory.
# 2. The durable write (process start-up included, as hyperfine -N times
#    it): for the reference spec and a generated 99-broker spec, a fresh
#    `rmqgen render` into an empty directory is timed against
#    `rmqgen render --check` of the same spec against an up-to-date
#    directory, the two interleaved run by run, and the ratio of the
#    medians printed, with the median of the per-round ratios.
#    --check does everything a render does but the write (parse, validate,
#    render, read and compare every file), so the ratio is the price of
#    writing durably. Target (issue 9): at most 2x.
#
# The output directories live under target/bench (override with BENCH_DIR):
# on tmpfs fsync is free and the comparison would mean nothing. RMQGEN_BIN
# times another binary (for example an older build) with the same harness;
# RUNS sets the number of timed rounds (each runs every command once);
# BASELINE_BIN (below)
# adds another build's fresh render to the same runs.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet
bin="${RMQGEN_BIN:-./target/release/rmqgen}"
runs="${RUNS:-60}"

if [ -z "${SKIP_LIB:-}" ]; then
    cargo bench --bench render 2>/dev/null | grep '^|'
    echo
fi

base="${BENCH_DIR:-target/bench}"
mkdir -p "$base"
work="$(mktemp -d -p "$base")"
work="$(cd "$work" && pwd)"
trap 'rm -rf "$work"' EXIT
df -T "$work" | awk 'NR == 2 { print "filesystem: " $2 " (" $7 ")" }'

cargo bench --quiet --bench render -- --spec 99 >"$work/brokers-99.json" 2>/dev/null
cp examples/five-vm.json "$work/five-vm.json"

# BASELINE_BIN: also time a fresh render by another build (for example
# main's) in the same runs, so before and after share the machine's load.
baseline="${BASELINE_BIN:-}"
echo
if [ -n "$baseline" ]; then
    echo "| spec | files | render --check (median) | fresh render (median) | ratio of medians | median of paired ratios | baseline fresh render (median) | baseline ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
else
    echo "| spec | files | render --check (median) | fresh render (median) | ratio of medians | median of paired ratios |"
    echo "|---|---:|---:|---:|---:|---:|"
fi
for name in five-vm brokers-99; do
    spec="$work/$name.json"
    "$bin" render "$spec" --out "$work/$name-check" 2>/dev/null
    files=$(find "$work/$name-check" -type f | wc -l)
    # Interleaved: each round runs every command once, in an order that
    # alternates round by round (check, fresh, then fresh, check), so a
    # change in the machine's load hits both alike; hyperfine would run
    # all of one command's runs, then all of the other's. Fresh: the
    # directory is removed before every run, and the removal synced
    # (sync -f: its filesystem), so the timed render does not also pay for
    # committing the previous run's deletion. Neither is timed; process
    # start-up is, as with hyperfine -N.
    python3 - "$name" "$files" "$runs" "$work" "$spec" "$bin" "$baseline" <<'PY'
import shutil, statistics, subprocess, sys, time
name, files, runs, work, spec, binary, baseline = sys.argv[1:]
runs = int(runs)
fresh_dir = f"{work}/{name}-fresh"
commands = {
    "check": [binary, "render", spec, "--out", f"{work}/{name}-check", "--check"],
    "fresh": [binary, "render", spec, "--out", fresh_dir],
}
if baseline:
    commands["baseline"] = [baseline, "render", spec, "--out", fresh_dir]
times = {k: [] for k in commands}

def timed(key):
    if key != "check":
        shutil.rmtree(fresh_dir, ignore_errors=True)
        subprocess.run(["sync", "-f", work], check=True)
    start = time.perf_counter()
    subprocess.run(commands[key], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start

order = list(commands)
for i in range(5 + runs):
    for key in order if i % 2 == 0 else order[::-1]:
        t = timed(key)
        if i >= 5:  # five warm-up rounds
            times[key].append(t * 1e3)
med = {k: statistics.median(v) for k, v in times.items()}
paired = statistics.median(f / c for f, c in zip(times["fresh"], times["check"]))
row = (f"| {name} | {files} | {med['check']:.1f} ms | {med['fresh']:.1f} ms "
       f"| {med['fresh'] / med['check']:.2f}x | {paired:.2f}x |")
if baseline:
    row += f" {med['baseline']:.1f} ms | {med['baseline'] / med['check']:.2f}x |"
print(row)
PY
done
