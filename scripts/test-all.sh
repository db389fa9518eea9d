#!/usr/bin/env bash
# The one command that checks everything, on a fresh Debian 12 machine, as
# root: installs the tools the real-tool tests run, then formatting, lints,
# the fast tests (unit, snapshot, CLI, doctests) and the real-tool tests.
set -euo pipefail

cd "$(dirname "$0")/.."

# Under CI a missing tool fails the real-tool tests instead of skipping them:
# this script has just installed every one.
export CI="${CI:-1}"
export DEBIAN_FRONTEND=noninteractive

timings=()
section_name=""
section_start=0

section() {
    end_section
    section_name="$1"
    section_start=$SECONDS
    printf '\n==================== %s ====================\n' "$section_name"
}

end_section() {
    if [ -n "$section_name" ]; then
        timings+=("$(printf '%5d s  %s' $((SECONDS - section_start)) "$section_name")")
        section_name=""
    fi
}

die() {
    printf 'test-all: %s\n' "$*" >&2
    exit 2
}

# True when something listens on TCP 5672 (hex 1628; state 0A is LISTEN).
# Reads /proc so it works before iproute2 is installed.
amqp_listening() {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk '$2 ~ /:1628$/ && $4 == "0A" { found = 1 } END { exit !found }'
}

stop_system_broker() {
    if [ -d /run/systemd/system ]; then
        systemctl stop rabbitmq-server.service
    else
        invoke-rc.d rabbitmq-server stop || service rabbitmq-server stop
    fi
}

[ "$(id -u)" -eq 0 ] || die "run as root: the tests create network namespaces and mounts"
command -v apt-get >/dev/null || die "apt-get not found: this script targets Debian 12"
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain first (rustup.rs)"

section "apt: install haproxy, keepalived, rabbitmq-server and namespace tools"
broker_before=no
if amqp_listening; then
    broker_before=yes
fi
# A policy-rc.d answering 101 ("action forbidden") stops the packages'
# maintainer scripts from starting their services: no system broker on 5672,
# and no postinst waiting for a broker to boot. An existing one is kept.
policy=/usr/sbin/policy-rc.d
policy_installed=no
policy_backup=""
restore_policy() {
    if [ "$policy_installed" = yes ]; then
        if [ -n "$policy_backup" ]; then
            mv -f "$policy_backup" "$policy"
        else
            rm -f "$policy"
        fi
        policy_installed=no
    fi
}
trap restore_policy EXIT
if [ -e "$policy" ]; then
    policy_backup="$(mktemp)"
    cp -p "$policy" "$policy_backup"
fi
policy_installed=yes
printf '#!/bin/sh\n# Installed by rmqgen scripts/test-all.sh for the duration of apt-get.\nexit 101\n' >"$policy"
chmod 0755 "$policy"

apt-get update
# Keep existing configuration files without asking: never block on a prompt.
apt-get install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    haproxy keepalived rabbitmq-server iproute2 util-linux procps \
    cloud-init python3-yaml nix-bin
restore_policy
# Only `cloud-init schema` is wanted here: keep cloud-init from acting on
# this machine at its next boot.
mkdir -p /etc/cloud
touch /etc/cloud/cloud-init.disabled

if [ "$broker_before" = no ] && amqp_listening; then
    echo "A system RabbitMQ broker listens on 5672 after the install: stopping it."
    stop_system_broker
fi
if [ "$broker_before" = yes ]; then
    echo "Note: something already listened on 5672 before this script; left alone" \
        "(the tests run their broker in a network namespace of their own)."
fi
# sed, not head: it reads to the end, so no SIGPIPE trips pipefail.
haproxy -v 2>&1 | sed -n 1p
keepalived --version 2>&1 | sed -n 1p
dpkg-query -W -f='rabbitmq-server ${Version}\n' rabbitmq-server

section "toolchain"
cargo --version
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || die "cargo fmt / cargo clippy missing and no rustup to add them"
    rustup component add rustfmt clippy
fi
cargo fmt --version
cargo clippy --version

section "cargo fmt --check"
cargo fmt --check

section "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

section "cargo test (unit, snapshot, CLI, doctests)"
cargo test

section "cargo test --test real_tools -- --ignored --test-threads=1"
cargo test --test real_tools -- --ignored --test-threads=1

section "cargo test --test cloud_init_tools -- --ignored"
cargo test --test cloud_init_tools -- --ignored

section "cargo test --test safe_writes -- --ignored (full disk, read-only directory)"
cargo test --test safe_writes -- --ignored

section "terraform module: HashiCorp's HCL parser and terraform fmt (node)"
# Debian's nodejs and npm, unless a node with its npm is already installed
# (NodeSource's nodejs bundles npm and conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt-get install -y --no-install-recommends nodejs npm
fi
node --version
npm --version
npm ci --prefix tests/hcl --no-audit --no-fund
cargo test --test terraform_tools -- --ignored

section "NixOS modules and generated .nix: nix-instantiate, nix flake check (nix-bin)"
# Debian's nix-bin (installed above): parsing, evaluation with the stub lib
# and the offline flake check need no daemon and no channel (nixpkgs is
# never fetched).
nix --version
cargo test --test nix_tools -- --ignored

section "fuzz smoke: scripts/fuzz.sh 60 (libFuzzer, 60 s per target)"
# A short run on every change (about 4 min with the build): the property
# tests in tests/injection.rs cover hostile values field by field, this
# covers the rest of the input space. Longer runs: scripts/fuzz.sh SECONDS.
bash scripts/fuzz.sh 60

section "the lab: the rendered cluster booted in network namespaces and failed over"
# The lab's AMQP client needs pika: Debian's python3-pika (pip only where
# the distribution has no package). /usr/bin/python3 is the interpreter
# Debian's package serves; the lab looks for pika there first.
if ! /usr/bin/python3 -c 'import pika' 2>/dev/null; then
    if apt-cache show python3-pika >/dev/null 2>&1; then
        apt-get install -y --no-install-recommends python3-pika
    else
        apt-get install -y --no-install-recommends python3-pip
        /usr/bin/python3 -m pip install --break-system-packages pika
    fi
fi
/usr/bin/python3 -c 'import pika; print("pika", pika.__version__)'
# Every spec the lab knows (examples/five-vm.json, examples/lab-quorum.json),
# side by side (two test threads, a lab each): a scenario=... spec=... line
# per scenario, a summary table per spec, target/lab/<spec>.json and the
# hosts' logs in target/lab/logs/<spec>/.
cargo test --test lab -- --ignored --test-threads=2 --nocapture
# Nothing of the lab may outlive it: no namespace, no process.
# (A lab process lives in a lab network namespace, never in this script's.)
left=$(ip netns list | grep -c '^rmqlab-' || true)
stray=""
for pid in $(for name in beam.smp epmd haproxy keepalived erl_child_setup; do
    pgrep -x "$name" || true
done) $(pgrep -f 'amqp_client.py' || true); do
    ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null || true)  # empty: gone
    if [ -n "$ns" ] && [ "$ns" != "$(readlink /proc/$$/ns/net)" ]; then
        stray="$stray $pid"
    fi
done
if [ "$left" != 0 ] || [ -n "$stray" ]; then
    echo "the lab left $left namespaces and these processes behind:$stray" >&2
    ip netns list >&2
    [ -z "$stray" ] || ps -o pid,args -p "${stray# }" >&2 || true
    exit 1
fi
echo "the lab left nothing behind: no rmqlab-* namespace, no process in a lab namespace"

end_section
printf '\n==================== summary ====================\n'
printf '%s\n' "${timings[@]}"
printf 'all checks passed in %d s\n' "$SECONDS"
