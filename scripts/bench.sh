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
# RUNS sets the number of timed runs per command; BASELINE_BIN (below)
# adds another build's fresh render to the same runs.
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

# BASELINE_BIN: also time a fresh render by another build (for example
# main's) in the same hyperfine run, so before and after share the
# machine's load.
baseline="${BASELINE_BIN:-}"
echo
if [ -n "$baseline" ]; then
    echo "| spec | files | render --check (median) | fresh render (median) | ratio | baseline fresh render (median) | baseline ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
else
    echo "| spec | files | render --check (median) | fresh render (median) | ratio |"
    echo "|---|---:|---:|---:|---:|"
fi
for name in five-vm brokers-99; do
    spec="$work/$name.json"
    "$bin" render "$spec" --out "$work/$name-check" 2>/dev/null
    files=$(find "$work/$name-check" -type f | wc -l)
    # Fresh: the directory is removed before every run, and the removal
    # synced (sync -f: its filesystem), so the timed render does not also
    # pay for committing the previous run's deletion. Neither is timed.
    fresh="bash -c 'rm -rf $work/$name-fresh && sync -f $work'"
    args=(
        --prepare "true" "$bin render $spec --out $work/$name-check --check"
        --prepare "$fresh" "$bin render $spec --out $work/$name-fresh"
    )
    if [ -n "$baseline" ]; then
        args+=(--prepare "$fresh" "$baseline render $spec --out $work/$name-fresh")
    fi
    hyperfine -N --style none --warmup 5 --runs "$runs" \
        --export-json "$work/$name-times.json" "${args[@]}" \
        >/dev/null 2>"$work/hyperfine.log" || { cat "$work/hyperfine.log" >&2; exit 1; }
    python3 - "$work/$name-times.json" "$name" "$files" <<'PY'
import json, sys
medians = [r["median"] * 1e3 for r in json.load(open(sys.argv[1]))["results"]]
check, fresh = medians[:2]
row = f"| {sys.argv[2]} | {sys.argv[3]} | {check:.1f} ms | {fresh:.1f} ms | {fresh / check:.2f}x |"
if len(medians) == 3:
    row += f" {medians[2]:.1f} ms | {medians[2] / check:.2f}x |"
print(row)
PY
done
