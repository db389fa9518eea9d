set -Eeuo pipefail

# ---------------------------------------------------------------- transport
#
# Every command on a host runs as root through `on HOST WORD...`: the words
# are quoted for the host's POSIX shell here, so a value stays one word.
# By default over SSH to the host's address (RMQGEN_SSH_USER, with
# `sudo -n` unless that is root; RMQGEN_SSH_OPTS adds options). With
# RMQGEN_RSH set, `$RMQGEN_RSH HOST COMMAND` runs COMMAND (one shell
# command line) on HOST instead: any command prefix, e.g. a wrapper around
# ssh with your own options, or nsenter in a test lab.

STATE=${RMQGEN_STATE:-$(dirname -- "$0")/$(basename -- "$0" .sh).state}

log() { printf '%s rollout: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "STOPPED: $*"
    log "fix the cause and run $0 again: the steps done are kept in $STATE"
    exit 1
}
# Any command that fails outside a condition stops the rollout, saying where.
trap 'die "a command failed (exit $?) at line $LINENO of $0"' ERR

# q WORD: WORD as one POSIX shell word ('...', each ' as '\'').
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

_on() {
    local host=$1 cmd="" a
    shift
    for a in "$@"; do cmd+="$(q "$a") "; done
    if [[ -n ${RMQGEN_RSH:-} ]]; then
        # Word-split on purpose: RMQGEN_RSH is a command prefix.
        # shellcheck disable=SC2086
        $RMQGEN_RSH "$host" "$cmd"
    else
        local user=${RMQGEN_SSH_USER:-$SSH_USER}
        [[ $user == root ]] || cmd="sudo -n sh -c $(q "$cmd")"
        # shellcheck disable=SC2086
        ssh -o BatchMode=yes -o ConnectTimeout=10 ${RMQGEN_SSH_OPTS:-} -- "$user@${ADDRESS[$host]}" "$cmd"
    fi
}
# on HOST WORD...: runs WORD... on HOST, standard input closed.
on() { _on "$@" </dev/null; }

# until_ok SECONDS WHAT COMMAND...: runs COMMAND every 2 s until it passes.
until_ok() {
    local limit=$1 what=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS - start < limit)) || die "$what: not within $limit s"
        sleep 2
    done
    log "  $what ($((SECONDS - start)) s)"
}

# ---------------------------------------------------------------- steps
#
# A step runs once: its id goes into the state file when it has passed, and
# a second run skips it. The state file names this rollout; another
# rollout's state file is refused.

steps_begin() {
    exec 9>>"$STATE.lock"
    flock -n 9 || die "another run of this rollout holds $STATE.lock"
    if [[ ! -s $STATE ]]; then
        printf 'rollout %s\n' "$ROLLOUT" >"$STATE"
    fi
    [[ $(head -n 1 -- "$STATE") == "rollout $ROLLOUT" ]] ||
        die "$STATE belongs to another rollout ($(head -n 1 -- "$STATE")); remove it if that one is finished"
}

# step ID TITLE FUNCTION
step() {
    if grep -qxF -- "done $1" "$STATE"; then
        log "step $1: $2: done already"
        return 0
    fi
    log "step $1: $2"
    "$3"
    printf 'done %s\n' "$1" >>"$STATE"
}

# ---------------------------------------------------------------- files

# push HOST PATH OWNER GROUP MODE SHA256 BASE64: installs the file (written
# beside it, then renamed into place) unless it is there already, the same
# bytes, owner and mode.
push() {
    local host=$1 path=$2 owner=$3 group=$4 mode=$5 sum=$6 data=$7 have
    [[ $(printf '%s' "$data" | base64 -d | sha256sum) == "$sum  -" ]] ||
        die "this script's copy of $path is damaged"
    have=$(on "$host" sh -c 'if [ -f "$1" ]; then sha256sum <"$1"; stat -c %U:%G:%a -- "$1"; fi' rmqgen-push "$path")
    if [[ $have == "$sum  -"$'\n'"$owner:$group:$mode" ]]; then
        log "  $host: $path is up to date"
        return 0
    fi
    printf '%s' "$data" | base64 -d | _on "$host" sh -c 'set -e
mkdir -p -- "${1%/*}"
t=$(mktemp "$1.rmqgen-XXXXXX")
cat >"$t"
chown -- "$2:$3" "$t"
chmod -- "$4" "$t"
mv -f -- "$t" "$1"' rmqgen-push "$path" "$owner" "$group" "$mode"
    log "  $host: $path pushed"
}

# unpush HOST PATH: removes a file rmqgen no longer renders for HOST.
unpush() {
    on "$1" rm -f -- "$2"
    log "  $1: $2 removed"
}

# hosts HOST OLD_BASE64 NEW_BASE64: in HOST's /etc/hosts, replaces rmqgen's
# lines (those of the old and of the new fragment) by the new fragment.
hosts() {
    on "$1" sh -c 'set -e
old=$(mktemp); new=$(mktemp); out=$(mktemp)
trap "rm -f \"\$old\" \"\$new\" \"\$out\"" EXIT
printf %s "$1" | base64 -d >"$old"
printf %s "$2" | base64 -d >"$new"
cat "$new" >>"$old"
{ grep -vxF -f "$old" /etc/hosts || true; cat "$new"; } >"$out"
if ! cmp -s "$out" /etc/hosts; then cat "$out" >/etc/hosts; fi' rmqgen-hosts "$2" "$3"
    log "  $1: /etc/hosts has the new hosts"
}

# ---------------------------------------------------------------- gates

# reachable HOST: HOST answers (once, no retry).
reachable() { on "$1" true >/dev/null 2>&1; }

# broker_running HOST: the broker on HOST runs and its listeners answer.
broker_running() {
    until_ok 300 "$1: RabbitMQ is running" on "$1" rabbitmq-diagnostics -q check_running
    until_ok 120 "$1: its listeners accept connections" on "$1" rabbitmq-diagnostics -q check_port_connectivity
}

# broker_can_stop HOST: every queue keeps enough replicas without HOST.
broker_can_stop() {
    if [[ $QUEUES == quorum ]]; then
        until_ok 300 "$1: every quorum queue has a quorum without it" on "$1" rabbitmq-upgrade await_online_quorum_plus_one -t 30
        until_ok 120 "$1: no quorum queue is critical on it" on "$1" rabbitmq-queues check_if_node_is_quorum_critical
    else
        until_ok 300 "$1: every mirrored queue has a synchronised mirror elsewhere" on "$1" rabbitmq-upgrade await_online_synchronized_mirror -t 30
        until_ok 120 "$1: no mirrored queue is critical on it" on "$1" rabbitmq-queues check_if_node_is_mirror_sync_critical
    fi
}

# in_cluster VIA NODE: NODE is a running node of the cluster VIA sees.
in_cluster() {
    on "$1" sh -c 'rabbitmqctl -q cluster_status --formatter json | grep -o "\"running_nodes\":\[[^]]*\]" | grep -qF "\"$1\""' rmqgen-member "$2"
}

# lb_sees LB SERVER: LB's HAProxy has SERVER UP by a passed check, read from
# the statistics keepalived's check script reads (CSV on 127.0.0.1).
lb_sees() {
    on "$1" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf "GET %s;csv HTTP/1.0\r\n\r\n" "$2" >&3
while IFS=, read -r -t 5 -a f; do
    [ "${f[0]}" = rabbitmq_amqp ] && [ "${f[1]}" = "$3" ] || continue
    case "${f[17]}:${f[36]}" in UP*:*L4OK) exit 0 ;; esac
done <&3
exit 1' rmqgen-lb-check "$HEALTH_PORT" "$HEALTH_URI" "$2"
}

# backends_up SERVER...: every load balancer's HAProxy has every SERVER UP.
backends_up() {
    local lb b
    for lb in "${LOAD_BALANCERS[@]}"; do
        for b in "$@"; do
            until_ok 120 "$lb: HAProxy has $b UP" lb_sees "$lb" "$b"
        done
    done
}

# vip_holders: the load balancers holding the VIP, one per line.
vip_holders() {
    local lb
    for lb in "${LOAD_BALANCERS[@]}"; do
        if [[ -n $(on "$lb" ip -o -4 addr show to "$VIP/32" 2>/dev/null) ]]; then
            printf '%s\n' "$lb"
        fi
    done
}
vip_held() { [[ -n $(vip_holders) ]]; }
vip_gate() { until_ok 60 "the VIP $VIP is held" vip_held; }

# ---------------------------------------------------------------- actions

# broker_restart HOST NODE: restarts the broker on HOST behind the gates.
broker_restart() {
    broker_can_stop "$1"
    on "$1" rabbitmq-upgrade drain
    log "  $1: drained (maintenance mode: its clients moved to the other brokers)"
    on "$1" systemctl daemon-reload
    on "$1" systemctl restart "$BROKER_UNIT"
    broker_after_restart "$1" "$2"
}

# broker_after_restart HOST NODE: checks a restarted broker, revives it and
# waits for the load balancers to send to it again.
broker_after_restart() {
    until_ok 300 "$1: RabbitMQ is running" on "$1" rabbitmq-diagnostics -q check_running
    on "$1" rabbitmq-upgrade revive
    broker_running "$1"
    local b
    for b in "${BROKERS[@]}"; do
        until_ok 120 "$b: sees $2 running" in_cluster "$b" "$2"
    done
    backends_up "$1"
}

# firewall_apply HOST: checks and loads the pushed /etc/nftables.conf (it
# replaces only its own table, atomically), and keeps nftables enabled.
firewall_apply() {
    on "$1" nft -c -f /etc/nftables.conf
    on "$1" systemctl enable --quiet nftables
    on "$1" systemctl reload-or-restart nftables
}

# lb_apply HOST WHAT...: applies pushed files on a load balancer (firewall, haproxy-reload,
# keepalived-reload, haproxy-restart, keepalived-restart, sysctl, sysusers),
# then waits until its HAProxy has every broker UP and the VIP is held.
lb_apply() {
    local host=$1 what
    shift
    for what in "$@"; do
        case $what in
        firewall) firewall_apply "$host" ;;
        haproxy-reload)
            on "$host" haproxy -c -q -f /etc/haproxy/haproxy.cfg
            on "$host" systemctl reload haproxy
            ;;
        keepalived-reload)
            on "$host" keepalived -t -f /etc/keepalived/keepalived.conf
            on "$host" systemctl reload keepalived
            ;;
        haproxy-restart)
            on "$host" systemctl daemon-reload
            on "$host" systemctl restart haproxy
            ;;
        keepalived-restart)
            on "$host" systemctl daemon-reload
            on "$host" systemctl restart keepalived
            ;;
        sysctl) on "$host" sysctl --system >/dev/null ;;
        sysusers) on "$host" systemd-sysusers ;;
        *) die "unknown action $what" ;;
        esac
        log "  $host: $what"
    done
    local b
    for b in "${BROKERS[@]}"; do
        until_ok 120 "$host: HAProxy has $b UP" lb_sees "$host" "$b"
    done
    vip_gate
}
