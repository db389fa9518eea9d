#!/usr/bin/env bash
# Render benchmark.
#
# 1. Library throughput (cargo bench, no extra dependency): parse, validate,
#    plan and render, in memory.
# 2. The durable write (hyperfine, from Debian's packages; process start-up
#    included): for the reference spec and a generated 99-broker spec, a
#    fresh `rmqgen render` into an empty directory is timed against
#    `rmqgen render --check` of the same spec against an up-to-date
#    directory, in one hyperfine run, and the ratio of the medians printed.
#    --check does everything a render does but the write (parse, validate,
#    render, read and compare every file), so the ratio is the price of
#    writing durably. Target (issue 9): at most 2x.
#
# The output directories live under target/bench (override with BENCH_DIR):
# on tmpfs fsync is free and the comparison would mean nothing. RMQGEN_BIN
# times another binary (for example an older build) with the same harness;
# RUNS sets the number of timed runs per command.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
}
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

echo
echo "| spec | files | render --check (median) | fresh render (median) | ratio |"
echo "|---|---:|---:|---:|---:|"
for name in five-vm brokers-99; do
    spec="$work/$name.json"
    "$bin" render "$spec" --out "$work/$name-check" 2>/dev/null
    files=$(find "$work/$name-check" -type f | wc -l)
    # Fresh: the directory is removed before every run, and the removal
    # synced (sync -f: its filesystem), so the timed render does not also
    # pay for committing the previous run's deletion. Neither is timed.
    hyperfine -N --style none --warmup 5 --runs "$runs" \
        --export-json "$work/$name-times.json" \
        --prepare "true" \
        "$bin render $spec --out $work/$name-check --check" \
        --prepare "bash -c 'rm -rf $work/$name-fresh && sync -f $work'" \
        "$bin render $spec --out $work/$name-fresh" >/dev/null
    python3 - "$work/$name-times.json" "$name" "$files" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
check, fresh = (r["median"] * 1e3 for r in results)
print(f"| {sys.argv[2]} | {sys.argv[3]} | {check:.1f} ms | {fresh:.1f} ms | {fresh / check:.2f}x |")
PY
done
