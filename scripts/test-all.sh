#!/usr/bin/env bash
# The one command that checks everything, on a fresh Debian 12 machine, as
# root: installs the tools the real-tool tests run, then formatting, lints,
# the fast tests (unit, snapshot, CLI, doctests), the real-tool tests, a
# fuzz smoke run and the lab.
#
#   scripts/test-all.sh                  every stage, in order (what CI runs)
#   scripts/test-all.sh STAGE...         only those stages, in the order given
#   scripts/test-all.sh lab --repeat N   the lab N times back to back, with
#                                        each run's verdict and the spread of
#                                        every figure across runs
#   scripts/test-all.sh --list           the stages, one a line
#
# The setup stage (apt) runs first whenever a selected stage needs a tool
# it installs; on a machine that has everything it only checks (no apt).
# The script leaves nothing on the machine that the tests do not need: see
# the setup stage.
set -euo pipefail

cd "$(dirname "$0")/.."

# Under CI a missing tool fails the real-tool tests instead of skipping them:
# the setup stage has installed every one.
export CI="${CI:-1}"
export DEBIAN_FRONTEND=noninteractive

# name|needs setup|what it runs
STAGES=(
    "setup|-|apt: haproxy, keepalived, rabbitmq-server, nftables, nix-bin, python3-pika, cloud-init's schema checker, namespace tools"
    "toolchain|no|cargo, rustfmt and clippy present"
    "fmt|no|cargo fmt --check"
    "clippy|no|cargo clippy --all-targets -- -D warnings"
    "unit|no|cargo test (unit, snapshot, CLI, doctests)"
    "example|no|cargo run --example embed (the library embedded in a Rust program)"
    "lib-only|no|the library without the CLI: clippy --no-default-features, cargo doc -D warnings"
    "rootfs|yes|root filesystems of Debian bookworm, trixie and sid, and trixie's cloud variant without RabbitMQ (scripts/rootfs.sh: mmdebstrap, cached in /var/cache/rmqgen)"
    "real-tools|yes|cargo test --test integration real_tools:: -- --ignored --test-threads=1 (each example on its release's tools)"
    "cloud-init|yes|cargo test --test integration cloud_init_tools:: -- --ignored"
    "safe-writes|yes|cargo test --test integration safe_writes:: -- --ignored (full disk, read-only directory)"
    "terraform|yes|terraform module: HashiCorp's HCL parser and terraform fmt (node); terraform init + validate with the real providers (scripts/tf-providers.sh: built from the Go module proxy, cached in /var/cache/rmqgen/terraform)"
    "libvirt|yes|terraform apply on a local libvirt (QEMU/TCG): five VMs from a Debian image built offline (scripts/vm-image.sh, cached), cluster formed, AMQP through the VIP, failover, destroy"
    "nix|yes|NixOS modules and generated .nix: nix-instantiate, nix flake check (nix-bin)"
    "fuzz|no|fuzz smoke: scripts/fuzz.sh 60 (libFuzzer, 60 s per target)"
    "lab|yes|the lab: the rendered cluster booted in network namespaces, each host in its release's root, and failed over"
)

# Stages that run only when named: the libvirt apply has not yet passed
# end to end on a 2-core machine (docs/testing.md), so it is not part of
# the default run that .ci/run makes.
OPT_IN=(libvirt)

stage_names() {
    local s
    for s in "${STAGES[@]}"; do
        printf '%s\n' "${s%%|*}"
    done
}

stage_field() { # NAME FIELD(2|3)
    local s
    for s in "${STAGES[@]}"; do
        if [ "${s%%|*}" = "$1" ]; then
            printf '%s\n' "$s" | cut -d'|' -f"$2"
            return
        fi
    done
}

usage() {
    cat >&2 <<EOF
usage: scripts/test-all.sh [--list] [STAGE...] [--repeat N]

Stages (default: all but the opt-in ${OPT_IN[*]}, in this order):
$(for s in "${STAGES[@]}"; do n="${s%%|*}"; printf '  %-12s %s\n' "$n" "${s##*|}"; done)

--repeat N   run the lab stage N times back to back (only with the lab stage)
--list       print the stage names
EOF
    exit 2
}

die() {
    printf 'test-all: %s\n' "$*" >&2
    exit 2
}

# ------------------------------------------------------------- arguments

selected=()
repeat=1
while [ $# -gt 0 ]; do
    case "$1" in
        --list)
            stage_names
            exit 0
            ;;
        -h | --help) usage ;;
        --repeat)
            [ $# -ge 2 ] || { echo "test-all: --repeat needs a number" >&2; usage; }
            case "$2" in
                '' | *[!0-9]* | 0) echo "test-all: --repeat takes a positive number, not '$2'" >&2; usage ;;
            esac
            repeat="$2"
            shift 2
            ;;
        --repeat=*)
            set -- --repeat "${1#--repeat=}" "${@:2}"
            ;;
        -*)
            echo "test-all: unknown option $1" >&2
            usage
            ;;
        *)
            if [ -z "$(stage_field "$1" 1)" ]; then
                echo "test-all: unknown stage '$1' (scripts/test-all.sh --list)" >&2
                usage
            fi
            selected+=("$1")
            shift
            ;;
    esac
done
if [ ${#selected[@]} -eq 0 ]; then
    # Every stage but the opt-in ones, which run only when named.
    mapfile -t selected < <(stage_names | grep -vxF -f <(printf '%s\n' "${OPT_IN[@]}"))
fi
is_selected() {
    local s
    for s in "${selected[@]}"; do
        [ "$s" = "$1" ] && return 0
    done
    return 1
}
if [ "$repeat" != 1 ] && ! is_selected lab; then
    echo "test-all: --repeat applies to the lab stage, which is not selected" >&2
    usage
fi
# The setup stage runs first when a selected stage needs it.
need_setup=no
for s in "${selected[@]}"; do
    [ "$(stage_field "$s" 2)" = yes ] && need_setup=yes
done
if [ "$need_setup" = yes ] && ! is_selected setup; then
    selected=(setup "${selected[@]}")
fi
# fmt and clippy need the toolchain's components.
if { is_selected fmt || is_selected clippy; } && ! is_selected toolchain; then
    selected=(toolchain "${selected[@]}")
fi

command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain first (rustup.rs)"
if [ "$need_setup" = yes ] || is_selected setup; then
    [ "$(id -u)" -eq 0 ] || die "run as root: the selected stages install packages and create network namespaces and mounts"
    command -v apt-get >/dev/null || die "apt-get not found: this script targets Debian 12"
fi

# -------------------------------------------------------------- sections

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

# What this run changed on the machine and must undo at exit, last first.
cleanups=()
cleanup() {
    local i
    for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do
        eval "${cleanups[$i]}" || true
    done
    cleanups=()
}
trap cleanup EXIT

# ----------------------------------------------------------------- setup

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

# The packages of `$@` that are not installed.
missing_packages() {
    local p
    for p in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
            printf '%s\n' "$p"
        fi
    done
}

# A policy-rc.d answering 101 ("action forbidden") stops the packages'
# maintainer scripts from starting their services: no system broker on 5672,
# and no postinst waiting for a broker to boot. An existing one is put back
# (and ours removed) as soon as apt is done, and at exit whatever happens.
policy=/usr/sbin/policy-rc.d
policy_backup=""
install_policy() {
    if [ -e "$policy" ]; then
        policy_backup="$(mktemp)"
        cp -p "$policy" "$policy_backup"
    fi
    cleanups+=(restore_policy)
    printf '#!/bin/sh\n# Installed by rmqgen scripts/test-all.sh for the duration of apt-get.\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
}
restore_policy() {
    if [ -n "$policy_backup" ]; then
        mv -f "$policy_backup" "$policy"
        policy_backup=""
    else
        rm -f "$policy"
    fi
}

# apt-get install of the missing ones among `$@`, with services kept from
# starting; nothing at all (not even apt-get update) when none is missing.
apt_install() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    if [ ${#missing[@]} -eq 0 ]; then
        echo "already installed: $*"
        return
    fi
    echo "installing: ${missing[*]}"
    local broker_before=no
    amqp_listening && broker_before=yes
    install_policy
    if [ "$apt_updated" = no ]; then
        apt-get update
        apt_updated=yes
    fi
    # Keep existing configuration files without asking: never block on a prompt.
    apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
    restore_policy
    unset 'cleanups[${#cleanups[@]}-1]'
    if [ "$broker_before" = no ] && amqp_listening; then
        echo "A system RabbitMQ broker listens on 5672 after the install: stopping it."
        stop_system_broker
    fi
}
apt_updated=no

# cloud-init's schema checker, without installing cloud-init: its package's
# units would act on this machine at its next boot (on a cloud VM: take
# over the host name, SSH keys and network configuration), and keeping them
# off needs /etc/cloud/cloud-init.disabled for as long as it stays
# installed. The tests only run `cloud-init schema`: when the package is
# not installed, its .deb is unpacked under target/test-all/ (its Python
# libraries, which have no units, are installed) and a `cloud-init` there
# comes first on PATH. A cloud-init the machine already has is used as is.
cloud_init_dir=target/test-all/cloud-init
cloud_init_deps=(python3-configobj python3-jinja2 python3-jsonpatch python3-jsonschema
    python3-netifaces python3-oauthlib python3-requests python3-serial python3-yaml)
setup_cloud_init() {
    if [ -z "$(missing_packages cloud-init)" ]; then
        echo "cloud-init: the machine's own ($(dpkg-query -W -f='${Version}' cloud-init))"
        return
    fi
    apt_install "${cloud_init_deps[@]}"
    local root="$PWD/$cloud_init_dir"
    if [ ! -x "$root/bin/cloud-init" ]; then
        if [ "$apt_updated" = no ]; then
            apt-get update
            apt_updated=yes
        fi
        rm -rf "$root"
        mkdir -p "$root/deb" "$root/bin"
        (cd "$root/deb" && apt-get -o APT::Sandbox::User=root download cloud-init)
        dpkg-deb -x "$root"/deb/cloud-init_*.deb "$root/unpacked"
        cat >"$root/bin/cloud-init" <<EOF
#!/bin/sh
# cloud-init unpacked from its .deb by scripts/test-all.sh (not installed).
PYTHONPATH="$root/unpacked/usr/lib/python3/dist-packages\${PYTHONPATH:+:\$PYTHONPATH}" \\
    exec /usr/bin/python3 -c 'import sys; from cloudinit.cmd.main import main; sys.argv[0] = "cloud-init"; sys.exit(main())' "\$@"
EOF
        chmod 0755 "$root/bin/cloud-init"
    fi
    export PATH="$root/bin:$PATH"
    echo "cloud-init: unpacked in $cloud_init_dir (not installed): $(cloud-init --version 2>&1)"
}

stage_setup() {
    # apt-utils (apt-ftparchive), gpg and openssl: the lab's local signed
    # apt repository (tests/lab/apt.rs). nftables: `nft -c` of the host
    # firewalls (real-tools) and the lab's per-host rulesets (the package
    # enables no service: the machine's own ruleset is left alone).
    apt_install haproxy keepalived rabbitmq-server iproute2 util-linux procps \
        python3-yaml nix-bin mmdebstrap apt-utils gpg openssl nftables
    setup_cloud_init
    # The lab's AMQP client needs pika: Debian's python3-pika (pip only
    # where the distribution has no package). /usr/bin/python3 is the
    # interpreter Debian's package serves; the lab looks for pika there
    # first.
    if ! /usr/bin/python3 -c 'import pika' 2>/dev/null; then
        if apt-cache show python3-pika >/dev/null 2>&1; then
            apt_install python3-pika
        else
            apt_install python3-pip
            /usr/bin/python3 -m pip install --break-system-packages pika
        fi
    fi
    if amqp_listening; then
        echo "Note: something listens on 5672; left alone" \
            "(the tests run their brokers in network namespaces of their own)."
    fi
    # sed, not head: it reads to the end, so no SIGPIPE trips pipefail.
    haproxy -v 2>&1 | sed -n 1p
    keepalived --version 2>&1 | sed -n 1p
    dpkg-query -W -f='rabbitmq-server ${Version}\n' rabbitmq-server
    /usr/bin/python3 -c 'import pika; print("pika", pika.__version__)'
    nix --version
}

# ----------------------------------------------------------------- stages

stage_toolchain() {
    cargo --version
    if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
        command -v rustup >/dev/null || die "cargo fmt / cargo clippy missing and no rustup to add them"
        rustup component add rustfmt clippy
    fi
    cargo fmt --version
    cargo clippy --version
}

stage_fmt() { cargo fmt --check; }
stage_clippy() { cargo clippy --all-targets -- -D warnings; }
stage_unit() { cargo test; }
stage_example() { cargo run --quiet --example embed >/dev/null; }
stage_lib-only() {
    cargo clippy --no-default-features --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
}
# The releases' root filesystems (scripts/rootfs.sh), once per run: built
# on a cold machine, reused from /var/cache/rmqgen while the archive's
# package versions are unchanged. The tests get their paths through
# RMQGEN_ROOTFS_<RELEASE> (without them they run scripts/rootfs.sh; `-` is
# `_` in the name). trixie-cloud: trixie as its cloud image has it, without
# RabbitMQ, which lab-trixie's brokers install at first boot from the lab's
# apt repository.
RELEASES=(bookworm trixie sid trixie-cloud)
rootfs_ready=no
ensure_rootfs() {
    [ "$rootfs_ready" = no ] || return 0
    local line start=$SECONDS
    while IFS= read -r line; do
        case "$line" in
            *=/*) export "RMQGEN_ROOTFS_$(printf '%s' "${line%%=*}" | tr '[:lower:]-' '[:upper:]_')=${line#*=}" ;;
        esac
    done < <(bash scripts/rootfs.sh "${RELEASES[@]}")
    local r v
    for r in "${RELEASES[@]}"; do
        v="RMQGEN_ROOTFS_$(printf '%s' "$r" | tr '[:lower:]-' '[:upper:]_')"
        [ -n "${!v:-}" ] || die "scripts/rootfs.sh printed no root filesystem for $r"
        printf '%-12s %s (%s)\n' "$r" "${!v}" \
            "$(grep -E '^(rabbitmq-server|erlang-base|haproxy|keepalived|cloud-init) ' "${!v%/root}/versions" | tr '\n' ' ')"
    done
    # The .deb files lab-trixie's local apt repository is built from.
    bash scripts/rootfs.sh --debs trixie-cloud rabbitmq-server >/dev/null
    echo "root filesystems ready in $((SECONDS - start)) s"
    rootfs_ready=yes
}

stage_rootfs() { ensure_rootfs; }
stage_real-tools() {
    ensure_rootfs
    cargo test --test integration real_tools:: -- --ignored --test-threads=1
}
stage_cloud-init() { cargo test --test integration cloud_init_tools:: -- --ignored; }
stage_safe-writes() { cargo test --test integration safe_writes:: -- --ignored; }

stage_terraform() {
    export CHECKPOINT_DISABLE=1
    # Debian's nodejs and npm, unless a node with its npm is already
    # installed (NodeSource's nodejs bundles npm and conflicts with
    # Debian's npm package).
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    node --version
    npm --version
    npm ci --prefix tests/hcl --no-audit --no-fund
    # The providers versions.tf pins are built from source with go
    # (scripts/tf-providers.sh: a cold machine builds them in minutes, a
    # warm one reuses /var/cache/rmqgen/terraform). The CLI is terraform
    # when the machine has it; without it (or with RMQGEN_FORCE_TOFU=1) the
    # script builds OpenTofu the same way (Terraform's own go.mod cannot be
    # built from the proxy). Nothing is installed for them.
    command -v go >/dev/null || die "go not found (scripts/tf-providers.sh builds the providers, and OpenTofu when terraform is missing, with Go 1.25.8 or later)"
    go version
    local line start=$SECONDS
    unset RMQGEN_TF_CLI_CONFIG RMQGEN_TERRAFORM
    while IFS= read -r line; do
        printf '%s\n' "$line"
        case "$line" in
            CLI_CONFIG=/*) export RMQGEN_TF_CLI_CONFIG="${line#CLI_CONFIG=}" ;;
            TERRAFORM=/*) export RMQGEN_TERRAFORM="${line#TERRAFORM=}" ;;
        esac
    done < <(bash scripts/tf-providers.sh)
    [ -n "${RMQGEN_TF_CLI_CONFIG:-}" ] || die "scripts/tf-providers.sh printed no CLI configuration"
    [ -n "${RMQGEN_TERRAFORM:-}" ] || die "scripts/tf-providers.sh printed no TERRAFORM binary"
    echo "terraform providers ready in $((SECONDS - start)) s"
    local tool
    tool="$("$RMQGEN_TERRAFORM" version | sed -n 1p)"
    echo "terraform CLI: $tool ($RMQGEN_TERRAFORM)"
    cargo test --test integration terraform_tools:: -- --ignored --nocapture
    echo "terraform modules validated by $tool ($RMQGEN_TERRAFORM)"
}

stage_libvirt() {
    # libvirt and QEMU from Debian (TCG: nested KVM does not work on these
    # machines), mkisofs for the provider's cloud-init ISO, qemu-img and
    # mmdebstrap for the image. The packages' services are kept from
    # starting (apt_install); the test starts libvirtd itself and stops it
    # again. The providers come from scripts/tf-providers.sh as in the
    # terraform stage.
    apt_install libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils \
        genisoimage mmdebstrap fdisk e2fsprogs openssh-client python3-pika
    command -v terraform >/dev/null || die "terraform not found (the libvirt stage needs Terraform 1.5 or later on PATH)"
    export CHECKPOINT_DISABLE=1
    if [ -z "${RMQGEN_TF_CLI_CONFIG:-}" ]; then
        RMQGEN_TF_CLI_CONFIG="$(bash scripts/tf-providers.sh | sed -n 's/^CLI_CONFIG=//p')"
        export RMQGEN_TF_CLI_CONFIG
    fi
    [ -n "$RMQGEN_TF_CLI_CONFIG" ] || die "scripts/tf-providers.sh printed no CLI configuration"
    cargo test --test integration libvirt_apply:: -- --ignored --nocapture
}

stage_nix() {
    # Debian's nix-bin (setup): parsing, evaluation with the stub lib, the
    # module checks on rmqgen's own module system (nix/module-system) and
    # the offline flake check need no daemon and no channel (nixpkgs is
    # never fetched; RMQGEN_NIXPKGS_LIB adds a run on nixpkgs' lib).
    nix --version
    cargo test --test integration nix_tools:: -- --ignored
}

stage_fuzz() {
    # A short run on every change (about 4 min with the build): the
    # property tests in tests/injection.rs cover hostile values field by
    # field, this covers the rest of the input space. Longer runs:
    # scripts/fuzz.sh SECONDS.
    bash scripts/fuzz.sh 60
}

# Nothing of the lab may outlive it: no namespace (nor its /etc/netns
# directory), no process in a lab namespace (a lab process never lives in
# this script's network namespace).
lab_leftovers() {
    local left stray="" pid ns mine
    left=$(ip netns list | grep -c '^rmqlab-' || true)
    # No /etc/netns at all is fine (find fails; pipefail would stop here).
    left=$((left + $({ find /etc/netns -maxdepth 1 -name 'rmqlab-*' 2>/dev/null || true; } | wc -l)))
    mine=$(readlink /proc/$$/ns/net)
    for pid in $(for name in beam.smp epmd haproxy keepalived erl_child_setup; do
        pgrep -x "$name" || true
    done) $(pgrep -f 'amqp_client.py|syslog_sink.py' || true); do
        ns=$(readlink "/proc/$pid/ns/net" 2>/dev/null || true) # empty: gone
        if [ -n "$ns" ] && [ "$ns" != "$mine" ]; then
            stray="$stray $pid"
        fi
    done
    if [ "$left" != 0 ] || [ -n "$stray" ]; then
        echo "the lab left $left namespaces and these processes behind:$stray" >&2
        ip netns list >&2
        ls -d /etc/netns/rmqlab-* >&2 2>/dev/null || true
        [ -z "$stray" ] || ps -o pid,args -p "${stray# }" >&2 || true
        return 1
    fi
    echo "the lab left nothing behind: no rmqlab-* namespace, no process in a lab namespace"
}

# One lab run: every spec the lab knows, each on its Debian release
# (the one its os names; tests/lab/scenarios.rs SPECS: five-vm and lab-quorum on bookworm,
# lab-trixie on trixie, its brokers installing RabbitMQ at first boot from
# the lab's signed apt repository, lab-sid on sid; and the team-rabbitmq
# rendering against that repository), two at a time (two test threads, a
# lab each), as CI runs them: a scenario=... release=... spec=... line per
# scenario, a summary table per spec, target/lab/<spec>.json, the hosts'
# logs in target/lab/logs/<spec>/, and the per-release table.
lab_once() {
    local rc=0
    rm -f target/lab/*.json
    cargo test --test integration lab:: -- --ignored --test-threads=2 --nocapture || rc=$?
    printf '\n---------- lab: per release ----------\n'
    python3 scripts/lab-matrix.py target/lab || true
    return "$rc"
}

stage_lab() {
    ensure_rootfs
    if [ "$repeat" = 1 ]; then
        lab_once
        lab_leftovers
        return
    fi
    # Build first, so run 1 is timed like the others.
    cargo test --test integration --no-run
    local runs=target/lab/runs i rc verdicts=() failed=0 start
    rm -rf "$runs"
    for ((i = 1; i <= repeat; i++)); do
        printf '\n---------- lab run %d of %d ----------\n' "$i" "$repeat"
        mkdir -p "$runs/$i"
        start=$SECONDS
        rc=0
        lab_once 2>&1 | tee "$runs/$i/output.log" || rc=$?
        local left=ok
        lab_leftovers || left=LEFTOVERS
        cp target/lab/*.json "$runs/$i/" 2>/dev/null || true
        cp -r target/lab/logs "$runs/$i/logs" 2>/dev/null || true
        local v
        if [ "$rc" = 0 ] && [ "$left" = ok ]; then
            v=PASS
        else
            v=FAIL
            failed=$((failed + 1))
        fi
        verdicts+=("$(printf 'run %d: %s (lab exit %s, leftover check %s) in %d s' \
            "$i" "$v" "$rc" "$left" $((SECONDS - start)))")
        printf '%s\n' "${verdicts[-1]}"
    done
    printf '\n==================== lab: %d runs ====================\n' "$repeat"
    printf '%s\n' "${verdicts[@]}"
    python3 scripts/lab-spread.py "$runs"
    [ "$failed" = 0 ] || {
        echo "lab: $failed of $repeat runs failed (outputs and logs in $runs/)" >&2
        return 1
    }
}

# ------------------------------------------------------------------- run

for s in "${selected[@]}"; do
    section "$s: $(stage_field "$s" 3)"
    "stage_$s"
done

end_section
printf '\n==================== summary ====================\n'
printf '%s\n' "${timings[@]}"
printf 'stages passed (%s) in %d s\n' "${selected[*]}" "$SECONDS"
