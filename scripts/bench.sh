#!/usr/bin/env bash
# Render benchmark. Library throughput (cargo bench, no extra dependency) and
# the process wall time of `rmqgen render` on the reference spec, start-up
# included (hyperfine, from Debian's packages).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v hyperfine >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
}
cargo build --release --quiet
cargo bench --bench render 2>/dev/null | grep '^|'

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo
# --check does everything a render does but the write: parse, validate,
# render, compare with the directory.
./target/release/rmqgen render examples/five-vm.json --out "$out/infra" 2>/dev/null
hyperfine --warmup 20 --runs 200 -N --style basic \
    "./target/release/rmqgen render examples/five-vm.json --out $out/infra --check" \
    "./target/release/rmqgen validate examples/five-vm.json" 2>&1 | grep -E 'Benchmark|Time|Range'
