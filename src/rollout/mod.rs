//! The rollout: a script that carries out a [`ChangePlan`] on the running
//! cluster, one gated, resumable step at a time.
//!
//! Built from the change plan and both sides' role files (never from the
//! bundle): each kept host gets exactly the role files rmqgen renders for
//! it in NEW, and what a changed file needs (a reload, a restart) is the
//! classification the plan itself uses (`change::files::effect`). The
//! script is `rollout/rollout.sh` for cloud-init hosts (files pushed over
//! SSH, services restarted with systemctl) and `rollout/nixos.sh` for NixOS
//! hosts (`nixos-rebuild switch --target-host` per host), both in the same
//! order with the same health gates:
//!
//! 1. brokers removed: gate, drain, shrink, stop, `forget_cluster_node`;
//!    load balancers removed: keepalived then HAProxy stopped;
//! 2. every kept host's files, brokers in the plan's order, then load
//!    balancers with the VIP holder last; a broker whose files need a
//!    restart is drained first (after `await_online_quorum_plus_one` or
//!    the mirror sync gate) and checked, revived and seen UP by every
//!    HAProxy after; a load balancer is reloaded or restarted and must see
//!    every broker UP with the VIP held before the next;
//! 3. hosts added: the script stops until `terraform apply` has created
//!    them, then waits for a broker to join and grows the quorum queues
//!    onto it, or for a load balancer's HAProxy to see every broker;
//! 4. definitions imported and the queue-HA bootstrap run once, when every
//!    broker of NEW runs (the bootstrap waits for all of them).
//!
//! Every value from the spec is one shell word (`shell_quote`); file
//! contents travel base64-encoded with their SHA-256. Changes the script
//! does not carry out (a version hop, a blue-green migration, anything
//! that rebuilds hosts) are refused with [`RolloutError::Unsupported`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::change::files::{effect, Effect};
use crate::change::{broker_order, lb_order, ChangeKind, ChangePlan, Side};
use crate::plan::platform::Feature;
use crate::plan::{paths, Plan, Role};
use crate::render::shell_quote;
use crate::roles::RoleFile;
use crate::spec::{Provisioning, QueueHaMode};

/// The common functions of every rollout script (no spec value in it):
/// templates/rollout-lib.sh.
pub const LIB: &str = include_str!("../../templates/rollout-lib.sh");

/// A rendered rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// Its path in the bundle: `rollout/rollout.sh` or `rollout/nixos.sh`.
    pub path: String,
    /// The script.
    pub script: String,
}

/// A change the rollout does not carry out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Its class.
    pub kind: ChangeKind,
    /// The change's summary.
    pub summary: String,
    /// What to do instead.
    pub instead: &'static str,
}

/// Why there is no rollout.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RolloutError {
    /// No plan: a spec is invalid or the change is refused.
    #[error(transparent)]
    Change(#[from] crate::ChangeError),
    /// The plan holds changes the rollout does not carry out.
    #[error("{}", describe(.0))]
    Unsupported(Vec<Unsupported>),
}

fn describe(u: &[Unsupported]) -> String {
    let mut s = String::from("the rollout script does not carry out:");
    for u in u {
        let _ = write!(s, "\n- {} ({}): {}", u.summary, u.kind, u.instead);
    }
    s
}

fn unsupported(kind: ChangeKind) -> Option<&'static str> {
    Some(match kind {
        ChangeKind::Version => "a version hop is not scripted yet: carry out `rmqgen plan`'s steps by hand (enable all feature flags, then upgrade broker by broker with the same gates), then render with --from again for the rest",
        ChangeKind::BlueGreen => "a queue type change is a blue-green migration to a new cluster, not a rollout",
        ChangeKind::Os | ChangeKind::Provisioning | ChangeKind::Target => "every host is re-provisioned: replace them one at a time (add under a new name, then remove)",
        ChangeKind::Network | ChangeKind::Vip => "the network settings were written at first boot; follow `rmqgen plan`",
        ChangeKind::HostIdentity => "do it as two changes: add a host under a new name, then remove the old one",
        ChangeKind::Resize => "Terraform resizes the VM, which restarts it: apply one host at a time (`terraform apply -target`), with the gates `rmqgen plan` lists",
        ChangeKind::Other => "rmqgen cannot classify this difference; review it by hand",
        ChangeKind::RemoveBroker
        | ChangeKind::RemoveLoadBalancer
        | ChangeKind::ConfigReload
        | ChangeKind::RollingRestart
        | ChangeKind::AddBroker
        | ChangeKind::AddLoadBalancer
        | ChangeKind::FirstBootOnly => return None,
    })
}

/// One step of the script: a shell function run once.
struct Step {
    id: String,
    title: String,
    body: Vec<String>,
}

/// `word word ...`, each quoted.
fn words(w: &[&str]) -> String {
    w.iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders the rollout of `change` from OLD to NEW.
pub(crate) fn render(
    change: &ChangePlan,
    old: &Side<'_>,
    new: &Side<'_>,
    contents: &dyn Fn(&RoleFile) -> String,
) -> Result<Rollout, Vec<Unsupported>> {
    let refused: Vec<Unsupported> = change
        .changes
        .iter()
        .filter_map(|c| {
            unsupported(c.kind).map(|instead| Unsupported {
                kind: c.kind,
                summary: c.summary.clone(),
                instead,
            })
        })
        .collect();
    if !refused.is_empty() {
        return Err(refused);
    }
    let (o, n) = (old.plan, new.plan);
    // A secret reaches a host only in its first-boot user-data (the script
    // never holds a secret value): a change that needs one a running host
    // lacks (a TLS key, say) cannot be pushed.
    let missing: Vec<&str> = n
        .secrets
        .iter()
        .filter(|s| o.secret(&s.id).is_none())
        .map(|s| s.id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(vec![Unsupported {
            kind: ChangeKind::Other,
            summary: format!(
                "the change needs secrets the running hosts do not have: {}",
                missing.join(", ")
            ),
            instead: "put them on the hosts first (for TLS, give them as {\"from\": \"host\"} paths), or replace the hosts",
        }]);
    }
    let nixos = n.provisioning == Provisioning::Nixos;
    let quorum = n.rabbitmq.policy.mode == QueueHaMode::Quorum;
    let gates = Feature::MaintenanceMode.in_series(*n.rabbitmq.version)
        && (quorum || Feature::MirrorSyncGates.in_series(*n.rabbitmq.version));
    if !gates {
        return Err(vec![Unsupported {
            kind: ChangeKind::Other,
            summary: format!(
                "RabbitMQ {} has no maintenance mode or mirror sync gates",
                *n.rabbitmq.version
            ),
            instead: "carry out `rmqgen plan`'s steps by hand",
        }]);
    }

    let kinds: BTreeSet<ChangeKind> = change.changes.iter().map(|c| c.kind).collect();
    let names = |p: &Plan, role: Role| -> Vec<String> { crate::roles::hosts_with(p, role) };
    let (old_b, new_b) = (names(o, Role::Broker), names(n, Role::Broker));
    let (old_l, new_l) = (names(o, Role::LoadBalancer), names(n, Role::LoadBalancer));
    let kept_b: Vec<String> = new_b
        .iter()
        .filter(|b| old_b.contains(b))
        .cloned()
        .collect();
    let added_b: Vec<String> = new_b
        .iter()
        .filter(|b| !old_b.contains(b))
        .cloned()
        .collect();
    let removed_b: Vec<String> = old_b
        .iter()
        .filter(|b| !new_b.contains(b))
        .cloned()
        .collect();
    let kept_l: Vec<String> = lb_order(
        n,
        &new_l
            .iter()
            .filter(|l| old_l.contains(l))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let added_l: Vec<String> = new_l
        .iter()
        .filter(|l| !old_l.contains(l))
        .cloned()
        .collect();
    let removed_l: Vec<String> = lb_order(
        o,
        &old_l
            .iter()
            .filter(|l| !new_l.contains(l))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let node = |p: &Plan, name: &str| -> String {
        p.brokers
            .iter()
            .find(|b| b.name.as_str() == name)
            .map_or_else(|| format!("rabbit@{name}"), |b| b.node_name.clone())
    };

    let mut steps: Vec<Step> = Vec::new();
    let mut push_step = |id: String, title: String, body: Vec<String>| {
        steps.push(Step { id, title, body });
    };

    // Before anything: every host the rollout touches answers and the
    // cluster is whole.
    {
        let mut body = Vec::new();
        for h in kept_b
            .iter()
            .chain(&removed_b)
            .chain(&kept_l)
            .chain(&removed_l)
        {
            body.push(format!(
                "reachable {} || die {}",
                shell_quote(h),
                shell_quote(&format!("{h} does not answer"))
            ));
        }
        for b in kept_b.iter().chain(&removed_b) {
            body.push(format!("broker_running {}", shell_quote(b)));
        }
        for lb in kept_l.iter().chain(&removed_l) {
            for b in kept_b.iter().chain(&removed_b) {
                body.push(format!(
                    "until_ok 60 {} lb_sees {} {}",
                    shell_quote(&format!("{lb}: HAProxy has {b} UP")),
                    shell_quote(lb),
                    shell_quote(b)
                ));
            }
        }
        body.push("vip_gate".into());
        push_step(
            "preflight".into(),
            "every host answers, every broker runs and is UP on every load balancer, the VIP is held".into(),
            body,
        );
    }

    // 1. Removals, before the other hosts' files drop the host.
    let remaining = kept_b.first().cloned();
    for b in &removed_b {
        let nd = node(o, b);
        let mut body = vec![
            format!("broker_can_stop {}", shell_quote(b)),
            format!("on {} rabbitmq-upgrade drain", shell_quote(b)),
        ];
        if quorum {
            body.push(format!(
                "on {} rabbitmq-queues shrink {}",
                shell_quote(b),
                shell_quote(&nd)
            ));
        }
        body.push(format!(
            "on {} systemctl disable --now {}",
            shell_quote(b),
            if nixos { "rabbitmq" } else { "rabbitmq-server" }
        ));
        if let Some(r) = &remaining {
            // Idempotent: a node already forgotten is not a member.
            body.push(format!(
                "on {} sh -c {} rmqgen-forget {}",
                shell_quote(r),
                shell_quote(
                    "rabbitmqctl forget_cluster_node \"$1\" || ! rabbitmqctl -q cluster_status --formatter json | grep -qF \"\\\"$1\\\"\""
                ),
                shell_quote(&nd)
            ));
        }
        body.push(format!(
            "log {}",
            shell_quote(&format!(
                "  {b} is out of the cluster; its VM goes with `terraform apply` at the end"
            ))
        ));
        push_step(
            format!("remove-broker:{b}"),
            format!("take broker {b} out of the cluster: drain, shrink, stop, forget"),
            body,
        );
    }
    for lb in &removed_l {
        push_step(
            format!("remove-load-balancer:{lb}"),
            format!("stop keepalived, then HAProxy, on load balancer {lb}"),
            vec![
                format!("on {} systemctl disable --now keepalived", shell_quote(lb)),
                format!("on {} systemctl disable --now haproxy", shell_quote(lb)),
                "vip_gate".into(),
            ],
        );
    }

    // 2. Every kept host's files: brokers, then load balancers.
    let mut defs = false;
    let mut bootstrap = false;
    for name in broker_order(n, &kept_b).iter().chain(&kept_l) {
        let host_files = HostChange::of(old, new, name);
        if host_files.is_empty() {
            continue;
        }
        let is_broker = kept_b.contains(name);
        let restart = host_files.effects.contains(&Effect::BrokerRestart);
        defs |= host_files.effects.contains(&Effect::Definitions);
        bootstrap |= host_files.effects.contains(&Effect::Bootstrap);
        let mut body = Vec::new();
        let mut title = format!("{name}: {}", host_files.paths.join(", "));
        if is_broker && restart {
            title.push_str(": rolling restart");
            body.push(format!("broker_can_stop {}", shell_quote(name)));
            body.push(format!("on {} rabbitmq-upgrade drain", shell_quote(name)));
        }
        if nixos {
            body.push(format!("deploy {}", shell_quote(name)));
        } else {
            body.extend(host_files.pushes(name, contents));
        }
        if is_broker && !nixos && host_files.effects.contains(&Effect::Firewall) {
            // First, so the hosts the other changes bring in are admitted.
            body.push(format!("firewall_apply {}", shell_quote(name)));
        }
        if is_broker {
            if restart {
                if !nixos {
                    body.push(format!("on {} systemctl daemon-reload", shell_quote(name)));
                    body.push(format!(
                        "on {} systemctl restart rabbitmq-server",
                        shell_quote(name)
                    ));
                }
                body.push(format!(
                    "broker_after_restart {} {}",
                    shell_quote(name),
                    shell_quote(&node(n, name))
                ));
            } else if !nixos {
                body.extend(host_files.broker_actions(name));
            }
        } else {
            let actions = if nixos {
                Vec::new()
            } else {
                host_files.lb_actions()
            };
            body.push(format!(
                "lb_apply {}{}",
                shell_quote(name),
                actions.iter().map(|a| format!(" {a}")).collect::<String>()
            ));
        }
        push_step(format!("apply:{name}"), title, body);
    }
    // 3. Additions, once the others' files name them.
    for b in &added_b {
        let nd = node(n, b);
        push_step(
            format!("created:{b}"),
            format!("broker {b} exists (terraform apply)"),
            vec![format!(
                "reachable {h} || {{ log {msg}; exit 3; }}",
                h = shell_quote(b),
                msg = shell_quote(&format!(
                    "{b} does not answer yet: run `terraform apply` now (it creates {b}'s VM and nothing else), then run this script again"
                ))
            )],
        );
        let mut body = vec![format!("broker_running {}", shell_quote(b))];
        for k in &kept_b {
            body.push(format!(
                "until_ok 600 {} in_cluster {} {}",
                shell_quote(&format!("{k}: sees {nd} running")),
                shell_quote(k),
                shell_quote(&nd)
            ));
        }
        if quorum {
            body.push(format!(
                "on {} rabbitmq-queues grow {} all",
                shell_quote(b),
                shell_quote(&nd)
            ));
        } else {
            body.push(format!(
                "log {}",
                shell_quote(&format!(
                    "  the ha-mode policy adds a mirror on {b} to every matching queue"
                ))
            ));
        }
        body.push(format!("backends_up {}", shell_quote(b)));
        push_step(
            format!("join:{b}"),
            format!("broker {b} joins the cluster and serves"),
            body,
        );
    }
    for lb in &added_l {
        push_step(
            format!("created:{lb}"),
            format!("load balancer {lb} exists (terraform apply)"),
            vec![format!(
                "reachable {h} || {{ log {msg}; exit 3; }}",
                h = shell_quote(lb),
                msg = shell_quote(&format!(
                    "{lb} does not answer yet: run `terraform apply` now (it creates {lb}'s VM and nothing else), then run this script again"
                ))
            )],
        );
        let mut body: Vec<String> = new_b
            .iter()
            .map(|b| {
                format!(
                    "until_ok 600 {} lb_sees {} {}",
                    shell_quote(&format!("{lb}: HAProxy has {b} UP")),
                    shell_quote(lb),
                    shell_quote(b)
                )
            })
            .collect();
        body.push("vip_gate".into());
        push_step(
            format!("serve:{lb}"),
            format!("load balancer {lb} sees every broker"),
            body,
        );
    }

    // 4. Once every broker of NEW runs: the definitions and the queue-HA
    // bootstrap, which waits for all of them.
    if let Some(first) = kept_b.first() {
        if defs {
            push_step(
                "import-definitions".into(),
                format!("import definitions.json once, on {first}"),
                vec![format!(
                    "on {} rabbitmqctl import_definitions {}",
                    shell_quote(first),
                    shell_quote(paths::DEFINITIONS)
                )],
            );
        }
        if bootstrap {
            push_step(
                "queue-ha-bootstrap".into(),
                format!("run the queue-HA bootstrap once, on {first}"),
                vec![format!(
                    "on {} systemctl start {}",
                    shell_quote(first),
                    shell_quote(paths::BOOTSTRAP_UNIT)
                )],
            );
        }
    }

    let mut done = vec!["log 'rollout complete'".to_string()];
    let gone: Vec<&String> = removed_b.iter().chain(&removed_l).collect();
    if !gone.is_empty() {
        done.push(format!(
            "log {}",
            shell_quote(&format!(
                "now run `terraform apply`: it destroys {} and nothing else",
                gone.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        ));
    }
    if kinds.contains(&ChangeKind::FirstBootOnly) {
        done.push("log 'some changes apply at first boot only: running hosts keep what they have (see rmqgen plan)'".into());
    }

    let script = assemble(change, o, n, nixos, quorum, &kept_b, &new_l, &steps, &done);
    Ok(Rollout {
        path: if nixos {
            "rollout/nixos.sh"
        } else {
            "rollout/rollout.sh"
        }
        .into(),
        script,
    })
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    change: &ChangePlan,
    o: &Plan,
    n: &Plan,
    nixos: bool,
    quorum: bool,
    kept_b: &[String],
    lbs: &[String],
    steps: &[Step],
    done: &[String],
) -> String {
    // The steps and their order identify the rollout (its state file).
    let mut body = String::new();
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(body, "# {}", s.title.replace('\n', " "));
        let _ = writeln!(body, "step_{i}() {{");
        for line in &s.body {
            let _ = writeln!(body, "    {line}");
        }
        body.push_str("}\n");
    }
    body.push_str("\nsteps_begin\n");
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(
            body,
            "step {} {} step_{i}",
            shell_quote(&s.id),
            shell_quote(&s.title)
        );
    }
    for line in done {
        let _ = writeln!(body, "{line}");
    }
    let id = hex(&Sha256::digest(body.as_bytes()))[..16].to_string();

    let mut s = String::from("#!/usr/bin/env bash\n");
    let _ = writeln!(
        s,
        "# Generated by rmqgen: the rollout of cluster {} to the spec rendered beside it.",
        n.name
    );
    s.push_str("# Review it, then run it from this directory. It stops at the first failed\n# gate and can be run again: steps already done are skipped.\n#\n# The changes, in order, with the hosts they touch:\n");
    // The classes only: a summary can quote a spec value (a file path),
    // which has no business in a comment line.
    for c in &change.changes {
        let hosts = c
            .hosts
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            s,
            "# - {}{}{hosts}",
            c.kind,
            if hosts.is_empty() { "" } else { ": " }
        );
    }
    s.push_str("# (`rmqgen plan OLD NEW` explains each.)\n");
    if nixos {
        s.push_str("#\n# NixOS hosts: each gets its configuration with `nixos-rebuild switch\n# --flake FLAKE#HOST --target-host root@ADDRESS` (FLAKE: RMQGEN_FLAKE, default\n# ../nixos; the command: RMQGEN_NIXOS_REBUILD, default nixos-rebuild).\n");
    } else {
        s.push_str("#\n# cloud-init hosts: each gets exactly the role files rmqgen renders for it,\n# pushed over SSH (see `on` below), then reloaded or restarted.\n");
    }
    s.push('\n');
    let _ = writeln!(s, "ROLLOUT={}", shell_quote(&id));
    let _ = writeln!(s, "SSH_USER={}", if nixos { "root" } else { "debian" });
    let _ = writeln!(
        s,
        "QUEUES={}",
        if quorum { "quorum" } else { "classic-mirrored" }
    );
    let _ = writeln!(
        s,
        "BROKER_UNIT={}",
        if nixos { "rabbitmq" } else { "rabbitmq-server" }
    );
    let _ = writeln!(s, "VIP={}", shell_quote(&n.vip.to_string()));
    let _ = writeln!(
        s,
        "HEALTH_PORT={}",
        shell_quote(&n.haproxy.health_port.to_string())
    );
    let _ = writeln!(s, "HEALTH_URI={}", shell_quote(n.haproxy.health_uri));
    s.push_str("# Every host, old and new, by name.\ndeclare -A ADDRESS=(\n");
    let mut seen = BTreeSet::new();
    for h in n.hosts.iter().chain(&o.hosts) {
        if seen.insert(h.name.to_string()) {
            let _ = writeln!(
                s,
                "    [{}]={}",
                shell_quote(&h.name),
                shell_quote(&h.address.to_string())
            );
        }
    }
    s.push_str(")\n");
    s.push_str("# The brokers that stay: every gate waits for all of them.\n");
    let _ = writeln!(
        s,
        "BROKERS=({})",
        words(&kept_b.iter().map(String::as_str).collect::<Vec<_>>())
    );
    s.push_str("# The load balancers of the new spec.\n");
    let _ = writeln!(
        s,
        "LOAD_BALANCERS=({})",
        words(&lbs.iter().map(String::as_str).collect::<Vec<_>>())
    );
    s.push('\n');
    s.push_str(LIB);
    if nixos {
        s.push_str(NIXOS_DEPLOY);
    }
    s.push_str(
        "\n# ---------------------------------------------------------------- the rollout\n\n",
    );
    s.push_str(&body);
    s
}

/// `deploy HOST` on the NixOS path.
const NIXOS_DEPLOY: &str = r#"
# deploy HOST: HOST's NixOS configuration from the flake, over SSH.
deploy() {
    local flake=${RMQGEN_FLAKE:-$(dirname -- "$0")/../nixos}
    # shellcheck disable=SC2086
    ${RMQGEN_NIXOS_REBUILD:-nixos-rebuild} switch --flake "$flake#$1" \
        --target-host "${RMQGEN_SSH_USER:-root}@${ADDRESS[$1]}"
    log "  $1: deployed"
}
"#;

/// What changes on one kept host: its files (by path on the host) and what
/// they need to take effect.
struct HostChange<'a> {
    /// Changed, new or no longer rendered files.
    files: Vec<(Option<&'a RoleFile>, Option<&'a RoleFile>)>,
    paths: Vec<String>,
    effects: BTreeSet<Effect>,
}

impl<'a> HostChange<'a> {
    fn of(old: &'a Side<'_>, new: &'a Side<'_>, host: &'a str) -> Self {
        let a: Vec<&RoleFile> = old.roles.for_host(host).collect();
        let b: Vec<&RoleFile> = new.roles.for_host(host).collect();
        let mut paths: Vec<&str> = a.iter().chain(&b).map(|f| f.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        let mut out = HostChange {
            files: Vec::new(),
            paths: Vec::new(),
            effects: BTreeSet::new(),
        };
        for p in paths {
            let o = a.iter().copied().find(|f| f.path == p);
            let n = b.iter().copied().find(|f| f.path == p);
            let same = match (o, n) {
                (Some(o), Some(n)) => o.contents == n.contents && o.placement == n.placement,
                _ => false,
            };
            if same {
                continue;
            }
            out.effects.insert(effect(o, n));
            out.paths.push(p.to_string());
            out.files.push((o, n));
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The push (or removal) of each file.
    fn pushes(&self, host: &str, contents: &dyn Fn(&RoleFile) -> String) -> Vec<String> {
        let h = shell_quote(host);
        self.files
            .iter()
            .map(|(o, n)| match (o, n) {
                (_, Some(n)) if n.append => format!(
                    "hosts {h} {} {}",
                    shell_quote(&base64(o.map_or(String::new(), contents).as_bytes())),
                    shell_quote(&base64(contents(n).as_bytes()))
                ),
                (_, Some(n)) => {
                    let text = contents(n);
                    format!(
                        "push {h} {} {} {} {} {} {}",
                        shell_quote(&n.path),
                        shell_quote(&n.owner),
                        shell_quote(&n.group),
                        shell_quote(&format!("{:o}", n.mode)),
                        shell_quote(&hex(&Sha256::digest(text.as_bytes()))),
                        shell_quote(&base64(text.as_bytes()))
                    )
                }
                (Some(o), None) => format!("unpush {h} {}", shell_quote(&o.path)),
                (None, None) => String::new(),
            })
            .collect()
    }

    /// What a broker that does not restart runs for its files.
    fn broker_actions(&self, host: &str) -> Vec<String> {
        let h = shell_quote(host);
        let mut out = Vec::new();
        for e in &self.effects {
            match e {
                Effect::TimerUnit => {
                    out.push(format!("on {h} systemctl daemon-reload"));
                    out.push(format!(
                        "on {h} systemctl restart {}",
                        shell_quote(&format!("{}.timer", paths::BOOTSTRAP_UNIT))
                    ));
                }
                Effect::Sysctl => out.push(format!("on {h} sysctl --system >/dev/null")),
                Effect::Sysusers => out.push(format!("on {h} systemd-sysusers")),
                _ => {}
            }
        }
        out
    }

    /// `lb_apply`'s actions for a load balancer's files.
    fn lb_actions(&self) -> Vec<&'static str> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Firewall => Some("firewall"),
                Effect::HaproxyReload => Some("haproxy-reload"),
                Effect::KeepalivedReload => Some("keepalived-reload"),
                Effect::HaproxyRestart => Some("haproxy-restart"),
                Effect::KeepalivedRestart => Some("keepalived-restart"),
                Effect::Sysctl => Some("sysctl"),
                Effect::Sysusers => Some("sysusers"),
                _ => None,
            })
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Standard base64 with padding (RFC 4648), as `base64 -d` reads it.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }
}
