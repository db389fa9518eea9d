//! Roles: what lands on a host. Each role renderer (broker, haproxy,
//! keepalived, hosts) turns the [`Plan`] into typed [`RoleFile`]s, rendered
//! once. The delivery renderers (cloud-init, NixOS, and through cloud-init
//! Terraform) take a [`Roles`], which only [`render`] builds, so they cannot
//! run before the role files exist and never read them back out of the
//! bundle by path.

mod bootstrap;
mod firewall;
mod haproxy;
mod hosts;
mod keepalived;
mod rabbitmq;

use std::sync::Arc;

use crate::bundle::{Artifact, Install};
use crate::error::Error;
use crate::plan::paths::Placement;
use crate::plan::{Host, Plan, Role};
use crate::spec::Provisioning;

/// One file a role installs on hosts: the bytes every delivery path
/// installs, on which hosts, and its [`Placement`] there (whose fields it
/// derefs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleFile {
    /// Where the bundle keeps it (relative, `/`-separated).
    pub bundle_path: String,
    /// Hosts that get the file.
    pub hosts: Vec<String>,
    /// Where it lands on each of them, and how.
    pub placement: Placement,
    /// Contents.
    pub contents: String,
}

impl std::ops::Deref for RoleFile {
    type Target = Placement;
    fn deref(&self) -> &Placement {
        &self.placement
    }
}

impl RoleFile {
    /// A file owned by root:root that replaces what is there.
    fn root(
        bundle_path: String,
        path: &str,
        hosts: Vec<String>,
        mode: u32,
        contents: String,
    ) -> Self {
        Self {
            bundle_path,
            hosts,
            placement: Placement::root(path, mode),
            contents,
        }
    }

    /// True when `host` gets this file.
    pub fn is_on(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h == host)
    }

    /// The file as the bundle holds it: executable in the output directory
    /// when it is on the host.
    fn artifact(&self) -> Artifact {
        let artifact = Artifact::file(self.contents.clone()).installed(Install {
            hosts: self.hosts.clone(),
            placement: self.placement.clone(),
        });
        if self.mode & 0o111 != 0 {
            artifact.executable()
        } else {
            artifact
        }
    }
}

/// The broker role's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// `rabbitmq.conf`.
    pub conf: RoleFile,
    /// `enabled_plugins`.
    pub plugins: RoleFile,
    /// `definitions.json`.
    pub definitions: RoleFile,
    /// The queue-HA bootstrap script.
    pub bootstrap: RoleFile,
    /// Files only the cloud-init path installs (the NixOS modules have
    /// their own units and package assertion): the series check and its
    /// rabbitmq-server drop-in, the bootstrap's service and timer. Empty
    /// with NixOS provisioning.
    pub cloud_init: Vec<RoleFile>,
    /// Erlang distribution over TLS (`tls.inter_node`): the
    /// `-ssl_dist_optfile` and the `rabbitmq-env.conf` that passes it to
    /// the broker and the CLI tools. Empty without it.
    pub inter_node_tls: Vec<RoleFile>,
}

/// HAProxy's files every load balancer shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaProxy {
    /// The haproxy.service drop-in.
    pub dropin: RoleFile,
    /// The load balancers' sysctl settings.
    pub sysctl: RoleFile,
}

/// keepalived's files every load balancer shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalived {
    /// The HAProxy check script.
    pub check_script: RoleFile,
    /// The script that resets the client connections on the VIP when the
    /// load balancer stops holding it (notify hooks, ExecStopPost).
    pub reset_script: RoleFile,
    /// The script user's sysusers.d entry.
    pub sysusers: RoleFile,
    /// The keepalived.service drop-in.
    pub dropin: RoleFile,
}

/// One load balancer's own files, with its host: a delivery path takes a
/// load balancer's configuration from here, never by looking up its name.
#[derive(Debug, Clone)]
pub struct LoadBalancerFiles {
    /// The load balancer's host (the plan's).
    pub host: Arc<Host>,
    /// Its `haproxy.cfg`.
    pub haproxy_cfg: RoleFile,
    /// Its `keepalived.conf`.
    pub keepalived_conf: RoleFile,
}

/// Every role file of a plan. Only [`render`] builds one (outside this
/// crate), so a delivery renderer that takes `&Roles` runs after the roles.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Roles {
    /// The `/etc/hosts` lines every host gets.
    pub hosts: RoleFile,
    /// The brokers' files.
    pub broker: Broker,
    /// HAProxy's files.
    pub haproxy: HaProxy,
    /// keepalived's files.
    pub keepalived: Keepalived,
    /// Each load balancer's own files, in the plan's order.
    pub load_balancers: Vec<LoadBalancerFiles>,
    /// Each host's firewall ruleset (nftables), in the plan's host order.
    pub firewalls: Vec<RoleFile>,
}

impl Roles {
    /// Every role file, sorted by bundle path.
    pub fn files(&self) -> Vec<&RoleFile> {
        let mut all = vec![
            &self.hosts,
            &self.broker.conf,
            &self.broker.plugins,
            &self.broker.definitions,
            &self.broker.bootstrap,
            &self.haproxy.dropin,
            &self.haproxy.sysctl,
            &self.keepalived.check_script,
            &self.keepalived.reset_script,
            &self.keepalived.sysusers,
            &self.keepalived.dropin,
        ];
        all.extend(self.broker.cloud_init.iter());
        all.extend(self.firewalls.iter());
        all.extend(self.broker.inter_node_tls.iter());
        for lb in &self.load_balancers {
            all.extend([&lb.haproxy_cfg, &lb.keepalived_conf]);
        }
        all.sort_by(|a, b| a.bundle_path.cmp(&b.bundle_path));
        all
    }

    /// The files `host` gets, sorted by bundle path.
    pub fn for_host<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a RoleFile> + 'a {
        self.files().into_iter().filter(move |f| f.is_on(host))
    }

    /// The same roles with every file's contents replaced by
    /// `contents(file)`: what the delivery renderers make of the role files
    /// without their text (the snapshots show delivery artifacts this way,
    /// so a role template's line is reviewed once, in its own snapshot).
    #[must_use]
    pub fn with_contents(&self, contents: impl Fn(&RoleFile) -> String) -> Self {
        let f = |file: &RoleFile| RoleFile {
            contents: contents(file),
            ..file.clone()
        };
        Self {
            hosts: f(&self.hosts),
            broker: Broker {
                conf: f(&self.broker.conf),
                plugins: f(&self.broker.plugins),
                definitions: f(&self.broker.definitions),
                bootstrap: f(&self.broker.bootstrap),
                cloud_init: self.broker.cloud_init.iter().map(f).collect(),
                inter_node_tls: self.broker.inter_node_tls.iter().map(f).collect(),
            },
            haproxy: HaProxy {
                dropin: f(&self.haproxy.dropin),
                sysctl: f(&self.haproxy.sysctl),
            },
            keepalived: Keepalived {
                check_script: f(&self.keepalived.check_script),
                reset_script: f(&self.keepalived.reset_script),
                sysusers: f(&self.keepalived.sysusers),
                dropin: f(&self.keepalived.dropin),
            },
            load_balancers: self
                .load_balancers
                .iter()
                .map(|lb| LoadBalancerFiles {
                    host: lb.host.clone(),
                    haproxy_cfg: f(&lb.haproxy_cfg),
                    keepalived_conf: f(&lb.keepalived_conf),
                })
                .collect(),
            firewalls: self.firewalls.iter().map(f).collect(),
        }
    }

    /// The firewall ruleset of `host`, if it is one of the plan's.
    pub fn firewall(&self, host: &str) -> Option<&RoleFile> {
        self.firewalls.iter().find(|f| f.is_on(host))
    }

    /// The role files as bundle entries.
    pub(crate) fn artifacts(&self) -> impl Iterator<Item = (String, Artifact)> + '_ {
        self.files()
            .into_iter()
            .map(|f| (f.bundle_path.clone(), f.artifact()))
    }
}

/// Names of hosts with a role, in the plan's order.
pub(crate) fn hosts_with(plan: &Plan, role: Role) -> Vec<String> {
    plan.hosts
        .iter()
        .filter(|h| h.role == role)
        .map(|h| h.name.to_string())
        .collect()
}

/// Renders every role file of the plan.
pub fn render(plan: &Plan) -> Result<Roles, Error> {
    let (conf, plugins, definitions) = rabbitmq::render(plan)?;
    let mut cloud_init = Vec::new();
    if plan.provisioning == Provisioning::CloudInit {
        cloud_init.extend(rabbitmq::series_check(plan)?);
        cloud_init.extend(bootstrap::units(plan)?);
    }
    Ok(Roles {
        hosts: hosts::render(plan)?,
        broker: Broker {
            conf,
            plugins,
            definitions,
            bootstrap: bootstrap::render(plan)?,
            cloud_init,
            inter_node_tls: rabbitmq::inter_node_tls(plan)?,
        },
        haproxy: haproxy::render(plan)?,
        keepalived: keepalived::render(plan)?,
        load_balancers: plan
            .load_balancers
            .iter()
            .map(|lb| {
                Ok(LoadBalancerFiles {
                    host: lb.host.clone(),
                    haproxy_cfg: haproxy::config(plan, lb)?,
                    keepalived_conf: keepalived::config(plan, lb)?,
                })
            })
            .collect::<Result<_, Error>>()?,
        firewalls: plan
            .brokers
            .iter()
            .map(|b| firewall::broker(plan, b))
            .chain(
                plan.load_balancers
                    .iter()
                    .map(|l| firewall::load_balancer(plan, l)),
            )
            .collect::<Result<_, Error>>()?,
    })
}
