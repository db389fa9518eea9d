//! The host firewall's source ranges: unique, not every network where
//! that exposes an operator's port, and not empty.

use super::Sink;
use crate::diagnostic::Code;
use crate::plan::{Plan, Sources};
use crate::spec::Spec;

pub(super) fn check(spec: &Spec, plan: &Plan, d: &mut Sink) {
    let f = &plan.firewall;
    let written = spec.firewall.clone().unwrap_or_default();
    for (list, text, opens) in [
        (&f.client, written.client_cidrs, None),
        (
            &f.admin,
            written.admin_cidrs,
            Some("SSH, the management UI and the HAProxy statistics page"),
        ),
        (
            &f.monitoring,
            written.monitoring_cidrs,
            Some("the brokers' unauthenticated Prometheus endpoint"),
        ),
    ] {
        check_list(list, text.is_some_and(|t| t.is_empty()), opens, d);
    }
}

/// One list as resolved (a default list is the subnet, and fine; an entry
/// that did not parse is already reported and not in the list).
fn check_list(list: &Sources, written_empty: bool, opens: Option<&str>, d: &mut Sink) {
    if !list.written() {
        return;
    }
    if written_empty {
        d.warning(
            Code::FirewallClosed,
            list.pointer(),
            "the list is empty: the firewall admits nobody to what it guards",
            "leave the list out for its default (network.cidr), or name the subnets that need access",
        );
    }
    for (i, range) in list.iter().enumerate() {
        if let Some(first) = list[..i].iter().find(|r| **r == *range) {
            d.error(
                Code::FirewallSource,
                range.pointer(),
                format!("{range} is listed twice (first at {})", first.pointer()),
                "list each subnet once",
            );
        }
        if let (0, Some(opens)) = (range.prefix(), opens) {
            d.warning(
                Code::FirewallOpen,
                range.pointer(),
                format!("{range} opens {opens} to every network"),
                "list the subnets that need it (the default is network.cidr)",
            );
        }
    }
}
