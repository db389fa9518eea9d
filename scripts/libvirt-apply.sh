#!/usr/bin/env bash
# The rendered Terraform applied for real: a local libvirt (QEMU/TCG), the
# reference spec's five VMs booted from a Debian image built offline, the
# cluster formed, AMQP through the VIP, one failover, and destroy.
#
#   scripts/libvirt-apply.sh [SPEC]     (default examples/five-vm.json)
#
# Run by tests/libvirt_apply.rs (`cargo test --test integration libvirt_apply:: --
# --ignored`), the `libvirt` stage of scripts/test-all.sh, which installs
# the tools first (libvirt-daemon-system, qemu-system-x86, qemu-utils,
# genisoimage for the provider's mkisofs, mmdebstrap, python3-pika).
#
# What it does, and undoes on every exit path (trap), last first:
#  1. the base image: scripts/vm-image.sh for the release the spec's `os`
#     names (debian-12: bookworm, debian-13: trixie), cached;
#  2. libvirtd (and virtlogd), started under `nice` unless already running,
#     stopped afterwards if this script started them;
#  3. a host bridge with the spec's gateway address on it (the host
#     reaches the VIP through it) and a directory storage pool;
#  4. a copy of SPEC with its addresses moved into the bridge's subnet
#     (same host part), target.libvirt naming that bridge and pool,
#     domain_type "qemu" (TCG: nested KVM hangs here), small VM sizes, and a
#     fresh ssh key in ssh_authorized_keys (cloud-init's default user
#     `debian`; the test reaches the VMs through it, nothing else);
#  5. rmqgen render, then terraform init (the providers' filesystem mirror:
#     TF_CLI_CONFIG_FILE from scripts/tf-providers.sh) and apply;
#  6. waits until a message published through the VIP comes back and
#     `rabbitmqctl cluster_status` on a broker lists every broker running;
#  7. stops HAProxy on the VIP holder (ssh), waits for the VIP on the other
#     load balancer (the host's neighbour entry for the VIP) and a message
#     round trip through it again;
#  8. terraform destroy, then checks that no domain, volume or network of
#     the run is left.
# Prints `figure NAME=SECONDS` lines and a summary.
#
#   $RMQGEN_TF_CLI_CONFIG    the providers' CLI config (default: run
#                            scripts/tf-providers.sh)
#   $RMQGEN_APPLY_SUBNET     the bridge's /24 (default 10.74.0)
#   $RMQGEN_APPLY_TIMEOUT_S  how long the cluster may take to form (default 1200)
set -euo pipefail

cd "$(dirname "$0")/.."
repo="$PWD"
spec_in="${1:-examples/five-vm.json}"
subnet="${RMQGEN_APPLY_SUBNET:-10.74.0}"
form_timeout="${RMQGEN_APPLY_TIMEOUT_S:-1200}"
bridge=rmqgenbr0
pool=rmqgen-apply
pool_dir=/var/lib/libvirt/images/rmqgen-apply
work="$repo/target/libvirt-apply"
uri=qemu:///system

log() { printf 'libvirt-apply: %s\n' "$*" >&2; }
die() {
    log "FAILED: $*"
    exit 1
}
figures=()
figure() { # NAME SECONDS
    figures+=("$1=$2")
    printf 'figure %s=%s\n' "$1" "$2"
}
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

[ "$(id -u)" -eq 0 ] || die "run as root (libvirtd, a bridge, a storage pool)"
for t in virsh libvirtd qemu-system-x86_64 qemu-img terraform ssh ssh-keygen python3 mkisofs; do
    command -v "$t" >/dev/null || die "$t not found (scripts/test-all.sh libvirt installs the tools)"
done
/usr/bin/python3 -c 'import pika' 2>/dev/null || die "python3-pika is not installed"
virsh() { command virsh -q -c "$uri" "$@"; }

# ------------------------------------------------------------- cleanup

cleanups=()
cleanup() {
    local rc=$? i
    # Nothing interrupts the cleanup.
    trap '' INT TERM
    trap - EXIT
    [ "$rc" = 0 ] || diagnose || true
    for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do
        eval "${cleanups[$i]}" || true
    done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hosts=()
diagnose() {
    [ ${#hosts[@]} -gt 0 ] || return 0
    log "diagnostics (the VMs as they were when the run failed):"
    local h
    for h in "${hosts[@]}"; do
        local a="${addr[$h]}"
        printf -- '--- %s (%s)\n' "$h" "$a" >&2
        timeout 60 ssh -q -i "$work/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR "debian@$a" 'cloud-init status --long; systemctl --failed --no-legend; ip -br addr;
            sudo journalctl -b --no-pager -n 40 -u rabbitmq-server -u haproxy -u keepalived -u rmqgen-queue-ha-policy' \
            >&2 2>&1 || printf '(no ssh to %s)\n' "$h" >&2
    done
}

# ----------------------------------------------------------- the image

spec_os="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("os") or "debian-12")' "$spec_in")"
case "$spec_os" in
    debian-12) release=bookworm ;;
    debian-13) release=trixie ;;
    *) die "$spec_in names os $spec_os; scripts/vm-image.sh builds Debian 12 and 13" ;;
esac
start=$(now)
image="$(bash scripts/vm-image.sh "$release")"
figure image_s "$(since "$start")"
log "base image $image ($release, for os $spec_os)"

# ------------------------------------------------------------- libvirt

stop_daemon() { # NAME: started by this script (pid file)
    local pid
    pid="$(cat "/run/$1.pid" 2>/dev/null || true)"
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    log "$1 ($pid) still running after 10 s"
}
if ! virsh version >/dev/null 2>&1; then
    log "starting virtlogd and libvirtd (nice 10)"
    if [ ! -S /run/libvirt/virtlogd-sock ]; then
        nice -n 10 virtlogd -d
        cleanups+=('stop_daemon virtlogd')
    fi
    networks_before="$(ls /run/libvirt/network 2>/dev/null || true)"
    # /dev/kvm exists here but KVM does not work (nested). libvirtd probes
    # QEMU's capabilities as root (KVM enabled) and checks KVM as its QEMU
    # user (not usable), finds its cache outdated on every call and probes
    # again: each API call takes seconds and `terraform apply` stalls. A
    # private mount namespace with a root-only empty file over /dev/kvm
    # makes both agree that there is no KVM (RMQGEN_LIBVIRT_KVM=1 keeps it).
    # That file is a mount point, which libvirt's private /dev per domain
    # cannot copy: the same namespace's qemu.conf (a copy of the machine's,
    # bound over it) turns those namespaces off.
    if [ -e /dev/kvm ] && [ "${RMQGEN_LIBVIRT_KVM:-0}" != 1 ]; then
        install -m 0600 /dev/null /run/rmqgen-libvirt-nokvm
        { cat /etc/libvirt/qemu.conf; printf '\n# rmqgen scripts/libvirt-apply.sh\nnamespaces = []\n'; } \
            >/run/rmqgen-libvirt-qemu.conf
        cleanups+=('rm -f /run/rmqgen-libvirt-nokvm /run/rmqgen-libvirt-qemu.conf')
        unshare -m --propagation private sh -c \
            'mount --bind /run/rmqgen-libvirt-nokvm /dev/kvm &&
             mount --bind /run/rmqgen-libvirt-qemu.conf /etc/libvirt/qemu.conf &&
             exec nice -n 10 libvirtd -d'
    else
        nice -n 10 libvirtd -d
    fi
    cleanups+=('stop_daemon libvirtd')
    for _ in $(seq 100); do virsh version >/dev/null 2>&1 && break; sleep 0.2; done
    virsh version >/dev/null || die "libvirtd did not answer on $uri"
    # libvirtd autostarts Debian's `default` NAT network (virbr0, dnsmasq):
    # this run did not want it, so it does not outlive the run.
    for n in $(virsh net-list --name 2>/dev/null); do
        grep -qx "$n.xml" <<<"$networks_before" ||
            cleanups+=("virsh net-destroy '$n' >/dev/null")
    done
fi
networks_start="$(virsh net-list --all --name | sort)"
virsh version | sed 's/^/  /' >&2

# Leftovers of an interrupted run go first.
if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge"; fi
ip link add "$bridge" type bridge
cleanups+=("ip link del '$bridge'")
ip addr add "$subnet.1/24" dev "$bridge"
ip link set "$bridge" up

remove_pool() {
    local v
    for v in $(virsh vol-list "$pool" 2>/dev/null | awk '{ print $1 }'); do
        virsh vol-delete --pool "$pool" "$v" >/dev/null || true
    done
    virsh pool-destroy "$pool" >/dev/null 2>&1 || true
    virsh pool-undefine "$pool" >/dev/null 2>&1 || true
    rmdir "$pool_dir" 2>/dev/null || true
}

# Leftovers of an interrupted run go first.
virsh pool-info "$pool" >/dev/null 2>&1 && remove_pool
mkdir -p "$pool_dir"
virsh pool-define-as "$pool" dir --target "$pool_dir" >/dev/null
virsh pool-start "$pool" >/dev/null
cleanups+=("remove_pool")
# ---------------------------------------------------------------- spec

rm -rf "$work"
mkdir -p "$work"
ssh-keygen -q -t ed25519 -N '' -C rmqgen-libvirt-apply -f "$work/id_ed25519"
python3 - "$spec_in" "$work/spec.json" "$subnet" "$bridge" "$pool" "$work/id_ed25519.pub" <<'PY'
import ipaddress, json, sys
src, dst, subnet, bridge, pool, key = sys.argv[1:]
spec = json.load(open(src))
old = ipaddress.ip_network(spec["network"]["cidr"])
if old.prefixlen < 24:
    sys.exit(f"{src}: the test moves a /24 or smaller subnet, not {old}")
def move(a):
    return f"{subnet}.{int(ipaddress.ip_address(a)) & 0xff}"
spec["network"]["cidr"] = f"{subnet}.0/24"
# The host is the gateway and the resolver: the bridge's address.
spec["network"]["gateway"] = f"{subnet}.1"
spec["network"]["dns"] = [f"{subnet}.1"]
spec["vip"] = move(spec["vip"])
for role in ("brokers", "load_balancers"):
    for h in spec[role]:
        h["address"] = move(h["address"])
        h.pop("resources", None)
spec["ssh_authorized_keys"] = [open(key).read().strip()]
# What TCG on two shared cores carries: one vCPU each; RabbitMQ 3.10/4.0
# runs in 1 GiB, HAProxy + keepalived in 512 MiB; the disks only have to
# hold the 4 GiB image.
spec["target"] = {
    "provider": "libvirt",
    "resources": {
        "broker": {"vcpus": 1, "memory_mib": 1024, "disk_gib": 5},
        "load_balancer": {"vcpus": 1, "memory_mib": 512, "disk_gib": 5},
    },
    "libvirt": {"pool": pool, "bridge": bridge, "domain_type": "qemu"},
}
json.dump(spec, open(dst, "w"), indent=2)
print(f"spec: {dst}: {spec['network']['cidr']}, VIP {spec['vip']}", file=sys.stderr)
PY
rmqgen="${RMQGEN_BIN:-}"
if [ -z "$rmqgen" ]; then
    cargo build --quiet --bin rmqgen
    rmqgen="$repo/target/debug/rmqgen"
fi
"$rmqgen" render "$work/spec.json" -o "$work/out" >&2
vip="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vip"])' "$work/spec.json")"
declare -A addr role
while read -r h a r; do
    hosts+=("$h")
    addr[$h]="$a"
    role[$h]="$r"
done < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
for r in ("brokers", "load_balancers"):
    for h in s[r]:
        print(h["name"], h["address"], r)' "$work/spec.json")
brokers=() lbs=()
for h in "${hosts[@]}"; do
    if [ "${role[$h]}" = brokers ]; then brokers+=("$h"); else lbs+=("$h"); fi
done

vm() { # ADDRESS COMMAND: as the image's default user, through the spec's key
    ssh -q -i "$work/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR \
        "debian@$1" "$2"
}

# ----------------------------------------------------------- terraform

cli_config="${RMQGEN_TF_CLI_CONFIG:-}"
if [ -z "$cli_config" ]; then
    cli_config="$(bash scripts/tf-providers.sh | sed -n 's/^CLI_CONFIG=//p')"
fi
[ -f "$cli_config" ] || die "no Terraform CLI config for the providers' mirror ($cli_config)"
export TF_CLI_CONFIG_FILE="$cli_config" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TF_DATA_DIR="$work/tf-data"
tf() { terraform -chdir="$work/out/terraform" "$@"; }
tfvars=(-input=false -var "base_image=$image")

tf init -input=false -no-color >"$work/init.log" 2>&1 || {
    cat "$work/init.log" >&2
    die "terraform init"
}
destroyed=no
cleanups+=('[ "$destroyed" = yes ] || tf destroy -auto-approve -no-color "${tfvars[@]}" >"$work/destroy-on-exit.log" 2>&1 || log "terraform destroy on exit failed: $work/destroy-on-exit.log"')
# Whatever Terraform could not remove: this run's domains and volumes.
cleanups+=('for h in "${hosts[@]}"; do virsh destroy "$h" >/dev/null 2>&1; virsh undefine "$h" >/dev/null 2>&1; done; true')

log "terraform apply: ${#hosts[@]} VMs (TCG)"
start=$(now)
tf apply -auto-approve -no-color "${tfvars[@]}" >"$work/apply.log" 2>&1 || {
    tail -40 "$work/apply.log" >&2
    die "terraform apply"
}
figure apply_s "$(since "$start")"
booted=$(now)
tf plan -detailed-exitcode -no-color "${tfvars[@]}" >"$work/replan.log" 2>&1 || {
    cat "$work/replan.log" >&2
    die "a plan right after apply is not empty (exit $?): the module does not converge"
}
log "a second plan is empty"
# The VMs run under nice too (libvirtd may be the machine's own).
for h in "${hosts[@]}"; do
    for p in $(pgrep -f "guest=$h," || true); do renice -n 10 -p "$p" >/dev/null || true; done
done
password="$(tf output -json generated_secrets |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["rabbitmq-user-app"])')"

amqp_roundtrip() { # prints nothing; fails unless a message comes back through the VIP
    RMQ_HOST="$vip" RMQ_PASSWORD="$password" timeout 60 /usr/bin/python3 - <<'PY'
import os, time, uuid, pika
params = pika.ConnectionParameters(
    host=os.environ["RMQ_HOST"], port=5672,
    credentials=pika.PlainCredentials("app", os.environ["RMQ_PASSWORD"]),
    connection_attempts=1, socket_timeout=10, blocked_connection_timeout=10)
conn = pika.BlockingConnection(params)
ch = conn.channel()
ch.confirm_delivery()
q = "rmqgen-libvirt-apply"
ch.queue_declare(q, durable=True)
body = uuid.uuid4().hex.encode()
ch.basic_publish("", q, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
deadline = time.time() + 20
while time.time() < deadline:
    method, _, got = ch.basic_get(q, auto_ack=True)
    if method and got == body:
        conn.close()
        raise SystemExit(0)
    time.sleep(0.2)
raise SystemExit("the message did not come back")
PY
}

running_brokers() { # on the first broker: how many of the cluster's brokers run
    vm "${addr[${brokers[0]}]}" 'sudo rabbitmqctl cluster_status --formatter json' 2>/dev/null |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null ||
        echo 0
}

log "waiting for a message through $vip:5672, then ${#brokers[@]} running brokers (up to $form_timeout s)"
# The AMQP probe runs on the host and costs the VMs next to nothing; each
# rabbitmqctl call costs a broker seconds of CPU (minutes under TCG on a
# loaded machine), so cluster_status is asked only once AMQP answers.
formed=no last="" amqp=no
deadline=$((SECONDS + form_timeout))
while [ $SECONDS -lt $deadline ]; do
    if [ "$amqp" = no ]; then
        if amqp_roundtrip 2>"$work/amqp.err"; then
            amqp=yes
            log "  $(since "$booted") s: a message came back through $vip"
        else
            sleep 10
            continue
        fi
    fi
    n="$(running_brokers)"
    if [ "$n" != "$last" ]; then
        log "  $(since "$booted") s: $n of ${#brokers[@]} brokers running"
        last="$n"
    fi
    if [ "$n" = "${#brokers[@]}" ] && amqp_roundtrip 2>"$work/amqp.err"; then
        formed=yes
        break
    fi
    sleep 20
done
[ "$formed" = yes ] || die "the cluster did not form within $form_timeout s ($last of ${#brokers[@]} brokers; $(tail -1 "$work/amqp.err" 2>/dev/null))"
figure boot_to_formed_s "$(since "$booted")"
vm "${addr[${brokers[0]}]}" 'sudo cloud-init status --long' >"$work/cloud-init-status.txt" 2>&1 || true
log "cluster formed; a message came back through $vip"

# ------------------------------------------------------------ failover

# Which load balancer holds the VIP, as the host sees it: the MAC its
# neighbour entry for the VIP has (keepalived's gratuitous ARPs update it
# on a takeover), matched against the load balancers' NICs. Cheap enough to
# poll every 0.2 s; ssh into a TCG guest takes seconds.
declare -A mac_of
for h in "${lbs[@]}"; do
    mac_of[$h]="$(virsh domiflist "$h" | awk 'NF >= 5 { print tolower($5); exit }')"
done
holder_of_vip() {
    local mac h
    mac="$(ip neigh show "$vip" dev "$bridge" | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print tolower($(i + 1)) }')"
    for h in "${lbs[@]}"; do
        [ -n "$mac" ] && [ "${mac_of[$h]}" = "$mac" ] && { printf '%s\n' "$h"; return; }
    done
}
amqp_roundtrip 2>/dev/null || true # a fresh neighbour entry for the VIP
holder="$(holder_of_vip)"
[ -n "$holder" ] || die "no load balancer's MAC answers for $vip ($(ip neigh show "$vip" dev "$bridge"))"
vm "${addr[$holder]}" "ip -o -4 addr show" | grep -q " $vip/" || die "$holder answers ARP for $vip but does not hold it"
log "VIP on $holder: stopping its HAProxy"
start=$(now)
vm "${addr[$holder]}" 'sudo systemctl stop haproxy'
log "  HAProxy stopped ($(since "$start") s for ssh + systemctl stop)"
moved=""
for _ in $(seq 600); do
    h="$(holder_of_vip)"
    if [ -n "$h" ] && [ "$h" != "$holder" ]; then
        moved="$h"
        break
    fi
    sleep 0.2
done
[ -n "$moved" ] || die "the VIP did not leave $holder within 2 minutes of HAProxy stopping"
figure failover_vip_s "$(since "$start")"
vm "${addr[$moved]}" "ip -o -4 addr show" | grep -q " $vip/" || die "$moved answers ARP for $vip but does not hold it"
ok=no
for _ in $(seq 30); do
    if amqp_roundtrip 2>"$work/amqp.err"; then ok=yes; break; fi
    sleep 1
done
[ "$ok" = yes ] || die "no message round trip through $vip after the failover: $(tail -1 "$work/amqp.err")"
figure failover_amqp_s "$(since "$start")"
log "VIP moved to $moved; AMQP answers through it"

# ------------------------------------------------------------- destroy

start=$(now)
tf destroy -auto-approve -no-color "${tfvars[@]}" >"$work/destroy.log" 2>&1 || {
    tail -40 "$work/destroy.log" >&2
    die "terraform destroy"
}
destroyed=yes
figure destroy_s "$(since "$start")"
left_domains="$(virsh list --all --name | grep -Fx -f <(printf '%s\n' "${hosts[@]}") || true)"
left_volumes="$(virsh vol-list "$pool" | awk '{ print $1 }')"
left_networks="$(comm -13 <(printf '%s\n' "$networks_start") <(virsh net-list --all --name | sort))"
[ -z "$left_domains$left_volumes$left_networks" ] ||
    die "terraform destroy left domains [$left_domains] volumes [$left_volumes] networks [$left_networks]"
log "terraform destroy left no domain, volume or network"

printf '\nlibvirt apply of %s (%s image, TCG): %s\n' "$spec_in" "$release" "${figures[*]}"
