//! Day 2: what it takes to move a running cluster from one spec to another.
//!
//! [`crate::plan_change`] validates both specs, resolves both plans and
//! renders both sets of role files, then compares them (never the specs,
//! and never re-deriving a value): every difference becomes a classified
//! [`Change`], and a change RabbitMQ or the platform cannot make in place is
//! refused with a coded [`Diagnostic`] at its JSON pointer in NEW.
//!
//! One file per concern:
//! - `hosts`: brokers and load balancers added or removed, a host whose
//!   identity (address, MAC, VM id) or size changes;
//! - `files`: the role files each remaining host gets, compared per host:
//!   reloads, pushes and the brokers' rolling restart;
//! - `version`: RabbitMQ's supported upgrade hops, Erlang per hop, feature
//!   flags;
//! - `platform`: VIP, network, OS, provisioning, target, the queue type
//!   (blue-green) and what only first boot applies;
//! - `text`: the human rendering.

pub(crate) mod files;
mod hosts;
mod platform;
mod text;
mod version;

use serde::Serialize;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::plan::Plan;
use crate::render::Roles;

pub use version::{upgrade_path, Hop};

/// What moving a running cluster from OLD to NEW takes: every difference,
/// classified, in the order to carry them out. No changes: OLD and NEW
/// render the same hosts and files.
#[derive(Debug, Clone, Serialize)]
pub struct ChangePlan {
    /// The cluster (NEW's name).
    pub cluster: String,
    /// The changes, in the order to make them.
    pub changes: Vec<Change>,
    /// Warnings about changes that are allowed but weaken the cluster
    /// (pointers into NEW).
    pub warnings: Diagnostics,
}

impl ChangePlan {
    /// True when nothing changes.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when some change interrupts clients or replaces hosts.
    pub fn is_disruptive(&self) -> bool {
        self.changes.iter().any(|c| c.disruptive)
    }
}

/// One classified difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What kind of change.
    pub kind: ChangeKind,
    /// True when clients see an interruption, or a host is rebuilt or
    /// replaced.
    pub disruptive: bool,
    /// JSON pointer in NEW of what changed, when one value is the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// One line: what changes.
    pub summary: String,
    /// The hosts it touches, in the order to touch them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// What to do, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// For a version change: the hop, with its Erlang and feature flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<Hop>,
}

impl Change {
    fn new(kind: ChangeKind, summary: impl Into<String>) -> Self {
        Self {
            kind,
            disruptive: false,
            pointer: None,
            summary: summary.into(),
            hosts: Vec::new(),
            steps: Vec::new(),
            hop: None,
        }
    }

    fn disruptive(mut self) -> Self {
        self.disruptive = true;
        self
    }

    fn at(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    fn hosts(mut self, hosts: Vec<String>) -> Self {
        self.hosts = hosts;
        self
    }

    fn step(mut self, step: impl Into<String>) -> Self {
        self.steps.push(step.into());
        self
    }

    fn step_if(self, condition: bool, step: impl Into<String>) -> Self {
        if condition {
            self.step(step)
        } else {
            self
        }
    }
}

/// The classes of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// The queue type changes: a new (green) cluster beside the running
    /// (blue) one, and a migration.
    BlueGreen,
    /// The RabbitMQ series changes by one supported hop: a rolling upgrade.
    Version,
    /// The OS image changes: every host is re-provisioned.
    Os,
    /// The provisioning path changes: every host is re-provisioned.
    Provisioning,
    /// The virtualisation target changes.
    Target,
    /// The subnet, gateway, resolvers, interface or MTU change.
    Network,
    /// The virtual IP changes.
    Vip,
    /// A broker is removed (before the other hosts' files drop it).
    RemoveBroker,
    /// A load balancer is removed.
    RemoveLoadBalancer,
    /// A file on running hosts changes and is applied without a restart
    /// (reload, re-read, or used on its next run).
    ConfigReload,
    /// A file on running hosts changes and takes effect only when the
    /// service restarts: one host at a time.
    RollingRestart,
    /// A broker is added (after the other hosts' files name it).
    AddBroker,
    /// A load balancer is added.
    AddLoadBalancer,
    /// A host's address, MAC or VM id changes: it is rebuilt.
    HostIdentity,
    /// A VM's size changes.
    Resize,
    /// Something only a host's first boot applies (SSH keys, apt settings,
    /// secret sources): running hosts keep what they have.
    FirstBootOnly,
    /// Rendered files differ in a way no other class describes.
    Other,
}

crate::spec::keyword_display!(ChangeKind);

/// Why [`crate::plan_change`] has no plan.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChangeError {
    /// OLD is invalid; its diagnostics (pointers into OLD).
    #[error("{}", describe("the old spec is invalid", .0))]
    InvalidOld(Diagnostics),
    /// NEW is invalid; its diagnostics (pointers into NEW).
    #[error("{}", describe("the new spec is invalid", .0))]
    InvalidNew(Diagnostics),
    /// The change cannot be made to a running cluster; the diagnostics
    /// (errors, and any warnings) point into NEW.
    #[error("{}", describe("the change is refused", .0))]
    Refused(Diagnostics),
    /// A bug: a plan that passed validation did not render (one of
    /// rmqgen's own templates failed; see [`crate::Error::Internal`]).
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

impl ChangeError {
    /// The diagnostics, if any.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            ChangeError::InvalidOld(d) | ChangeError::InvalidNew(d) | ChangeError::Refused(d) => {
                Some(d)
            }
            ChangeError::Internal(_) => None,
        }
    }
}

fn describe(what: &str, d: &Diagnostics) -> String {
    let mut s = format!("{what} ({})", d.summary());
    if !d.is_empty() {
        s.push(':');
    }
    for d in d {
        s.push('\n');
        s.push_str(&d.to_string());
    }
    s
}

/// One side of the comparison: a validated plan and its role files.
pub(crate) struct Side<'a> {
    pub plan: &'a Plan,
    pub roles: &'a Roles,
}

/// Compares two resolved plans and their role files.
pub(crate) fn compare(old: Side<'_>, new: Side<'_>) -> Result<ChangePlan, Diagnostics> {
    let mut out = Out::default();
    if platform::blue_green(&old, &new, &mut out) {
        // A new cluster beside the old one: no in-place step applies.
        return out.finish(new.plan);
    }
    let upgrading = version::check(old.plan, new.plan, &mut out);
    platform::check(&old, &new, &mut out);
    tls_switch(old.plan, new.plan, &mut out);
    hosts::check(&old, &new, &mut out);
    // A new image or provisioning re-provisions every host: each boots
    // with the new files, so no file is pushed to it.
    let reprovisioned =
        old.plan.os != new.plan.os || old.plan.provisioning != new.plan.provisioning;
    let carried = if reprovisioned {
        Vec::new()
    } else {
        files::check(&old, &new, upgrading, &mut out)
    };
    if let Some(c) = out
        .changes
        .iter_mut()
        .find(|c| c.kind == ChangeKind::Version)
        .filter(|_| !carried.is_empty())
    {
        // The brokers' files go out with the upgrade, broker by broker:
        // pushed earlier, a restarting broker of the old series would get
        // the new series' files.
        c.steps.insert(
            c.steps.len() - 1,
            format!(
                "the brokers' changed files go out with the upgrade, on each broker as it is upgraded: {}",
                carried.join(", ")
            ),
        );
    }
    hosts::resize(&old, &new, &mut out);
    platform::first_boot(&old, &new, &mut out);
    out.finish(new.plan)
}

/// TLS switched on or off on a link of a running cluster. Erlang
/// distribution cannot be: a TLS node and a plain one do not talk, so a
/// rolling restart would split the cluster. A client link that changes
/// port (5672 to 5671, ...) cuts the clients that still use the old one,
/// and HAProxy's reload moves the VIP's port before the brokers listen on
/// the new one.
fn tls_switch(o: &Plan, n: &Plan, out: &mut Out) {
    let on_off = |on: bool| if on { "on" } else { "off" };
    if o.tls.inter_node != n.tls.inter_node {
        out.refuse(
            Diagnostic::error(
                Code::TlsSwitch,
                "/tls",
                format!(
                    "Erlang distribution over TLS turns {}: brokers on either side of a rolling restart could not talk to each other",
                    on_off(n.tls.inter_node)
                ),
            )
            .hint("keep tls.inter_node as it is, or switch it in a maintenance window: stop every broker, install the new files (certificates first), start them all"),
        );
    }
    for (link, was, now) in [
        ("amqp", o.tls.amqp, n.tls.amqp),
        ("management", o.tls.management, n.tls.management),
        ("prometheus", o.tls.prometheus, n.tls.prometheus),
    ] {
        if was != now {
            out.warn(
                Diagnostic::warning(
                    Code::TlsSwitch,
                    format!("/tls/{link}"),
                    format!(
                        "TLS is switched {} for {link}: its port moves, and clients on the old scheme or port are cut off (HAProxy follows at its reload, before every broker has restarted)",
                        on_off(now)
                    ),
                )
                .hint("move the clients in a window, or keep the link as it is"),
            );
        }
    }
}

/// What the comparison collects.
#[derive(Default)]
pub(crate) struct Out {
    changes: Vec<Change>,
    diagnostics: Diagnostics,
}

impl Out {
    fn change(&mut self, change: Change) {
        self.changes.push(change);
    }

    fn refuse(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn warn(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn finish(self, new: &Plan) -> Result<ChangePlan, Diagnostics> {
        let diagnostics = self.diagnostics.finish();
        if diagnostics.has_errors() {
            return Err(diagnostics);
        }
        let mut changes = self.changes;
        // Stable: by class (the order to make them), then as found.
        changes.sort_by_key(|c| c.kind);
        Ok(ChangePlan {
            cluster: new.name.clone(),
            changes,
            warnings: diagnostics,
        })
    }
}

/// The load balancer that holds the VIP when all are healthy: the highest
/// priority, the first of equals.
pub(crate) fn vip_holder(plan: &Plan) -> Option<&str> {
    plan.load_balancers
        .iter()
        .find(|lb| *lb.priority == plan.keepalived.top_priority)
        .map(|lb| lb.name.as_str())
}

/// Load balancers in the order to restart them: the VIP holder last, so
/// the VIP moves once at most.
pub(crate) fn lb_order(plan: &Plan, among: &[String]) -> Vec<String> {
    let holder = vip_holder(plan);
    let mut out: Vec<String> = plan
        .load_balancers
        .iter()
        .map(|l| l.name.to_string())
        .filter(|n| among.contains(n) && Some(n.as_str()) != holder)
        .collect();
    out.extend(
        holder
            .filter(|h| among.iter().any(|n| n == h))
            .map(str::to_string),
    );
    out
}

/// Brokers in the order to restart them: the spec's order (every broker
/// runs the queue-HA bootstrap, so none has to wait for the others).
pub(crate) fn broker_order(plan: &Plan, among: &[String]) -> Vec<String> {
    plan.brokers
        .iter()
        .map(|b| b.name.to_string())
        .filter(|n| among.contains(n))
        .collect()
}

/// Adds the files two bundles differ in (as an [`ChangeKind::Other`]
/// change) when the comparison found nothing: a no-op is claimed only for
/// identical output.
pub(crate) fn unclassified(plan: &mut ChangePlan, old: &crate::Bundle, new: &crate::Bundle) {
    let mut paths: Vec<String> = Vec::new();
    for (path, a) in old.iter() {
        if new.get(path).is_none_or(|b| b.bytes != a.bytes) {
            paths.push(path.to_string());
        }
    }
    for (path, _) in new.iter() {
        if old.get(path).is_none() {
            paths.push(path.to_string());
        }
    }
    if paths.is_empty() {
        return;
    }
    paths.sort();
    plan.changes.push(
        Change::new(
            ChangeKind::Other,
            "rendered files differ in a way rmqgen does not classify: render both and review the difference",
        )
        .step(format!("differing files: {}", paths.join(", "))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Artifact, Bundle};

    #[test]
    fn a_noop_is_claimed_only_for_identical_bundles() {
        let mut plan = ChangePlan {
            cluster: "c".into(),
            changes: Vec::new(),
            warnings: Diagnostics::new(),
        };
        let mut a = Bundle::new();
        a.insert("x", Artifact::file("1\n"));
        a.insert("gone", Artifact::file("g\n"));
        unclassified(&mut plan, &a, &a.clone());
        assert!(plan.is_noop());
        let mut b = Bundle::new();
        b.insert("x", Artifact::file("2\n"));
        b.insert("new", Artifact::file("n\n"));
        unclassified(&mut plan, &a, &b);
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].kind, ChangeKind::Other);
        assert!(
            plan.changes[0].steps[0].ends_with("gone, new, x"),
            "{:?}",
            plan.changes[0]
        );
    }
}
