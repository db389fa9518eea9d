#!/usr/bin/env bash
# Fuzzes rmqgen::compile and rmqgen::diagnose with libFuzzer through
# cargo-fuzz, each target for a bounded time:
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]     default: 120 s, compile and mutate
#
# - compile (fuzz/fuzz_targets/compile.rs): arbitrary bytes as the spec.
#   Seeds: examples/, tests/invalid/ and tests/warnings/, read in place
#   (never written).
# - mutate (fuzz/fuzz_targets/mutate.rs): the bytes pick an example and
#   edit its values, keys and lists, so most inputs reach validation and
#   rendering.
#
# What libFuzzer finds is kept in fuzz/corpus/<target>/ (gitignored) and
# seeds the next run; a crashing input is written to fuzz/artifacts/<target>/
# and the script exits non-zero. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s none <target> fuzz/artifacts/<target>/<file>
#
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer, ...).
# RUSTC_BOOTSTRAP=1 makes a stable toolchain accept them; no nightly needed.
# Set FUZZ_SANITIZER=address for AddressSanitizer (about half the speed;
# rmqgen has no unsafe code, its dependencies some).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

seconds="${1:-120}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS [TARGET...]]" >&2; exit 2 ;;
esac
shift $(($# > 0 ? 1 : 0))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(compile mutate)
sanitizer="${FUZZ_SANITIZER:-none}"

# libfuzzer-sys compiles libFuzzer (C++) with the system's compiler.
if ! command -v c++ >/dev/null && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

# A dictionary of every key and keyword of the spec, from the schema, so
# mutations produce field names rmqgen knows.
cargo run --quiet -- schema |
    grep -oE '"[A-Za-z0-9_$.-]+"' | sort -u |
    sed 's/"/\\"/g; s/.*/"&"/' >fuzz/compile.dict

for target in "${targets[@]}"; do
    seeds=()
    options=(-max_len=16384)
    if [ "$target" = compile ]; then
        seeds=("$root/examples" "$root/tests/invalid" "$root/tests/warnings")
    else
        # The bytes only choose edits: no need to grow them slowly.
        options=(-max_len=4096 -len_control=0)
    fi
    mkdir -p "fuzz/corpus/$target"
    echo "fuzz: $target for $seconds s"
    # --debug-assertions: arithmetic overflow panics, as in a debug build.
    # -timeout: one input taking 10 s is a hang. -rss_limit_mb: well inside
    # the 24 GiB machine.
    cargo fuzz run --debug-assertions --sanitizer "$sanitizer" "$target" \
        "$root/fuzz/corpus/$target" "${seeds[@]}" \
        -- -max_total_time="$seconds" -dict="$root/fuzz/compile.dict" \
        "${options[@]}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
done
