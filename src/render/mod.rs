//! Renderers: pure functions from the [`Plan`] to artifacts. Line-oriented
//! formats come from minijinja templates embedded at compile time;
//! structured formats are built through serde.
//!
//! Two stages, ordered by their types: [`crate::roles`] renders what lands on a
//! host (each role file once), then the delivery renderers ([`cloud_init`],
//! [`nixos`], and Terraform, which reads cloud-init's user-data) take those
//! [`Roles`] and say how it gets there. The bundle is assembled from both.

pub mod cloud_init;
mod escape;
pub mod nix;
#[cfg(any(test, feature = "testing"))]
pub(crate) mod nix_hostile;
pub mod nixos;
pub(crate) mod terraform;
mod yaml;

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::bundle::{Artifact, Bundle};
use crate::error::Error;
use crate::plan::Plan;
use crate::spec::Provisioning;

use crate::roles;
pub use crate::roles::Roles;
pub use escape::shell_quote;

/// Every template, by name, embedded at compile time.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "nftables.conf",
        include_str!("../../templates/nftables.conf.j2"),
    ),
    (
        "haproxy.cfg",
        include_str!("../../templates/haproxy.cfg.j2"),
    ),
    (
        "haproxy-dropin.conf",
        include_str!("../../templates/haproxy-dropin.conf.j2"),
    ),
    (
        "keepalived.conf",
        include_str!("../../templates/keepalived.conf.j2"),
    ),
    (
        "keepalived-dropin.conf",
        include_str!("../../templates/keepalived-dropin.conf.j2"),
    ),
    (
        "check-haproxy.sh",
        include_str!("../../templates/check-haproxy.sh.j2"),
    ),
    (
        "reset-vip-connections.sh",
        include_str!("../../templates/reset-vip-connections.sh.j2"),
    ),
    (
        "rabbitmq.conf",
        include_str!("../../templates/rabbitmq.conf.j2"),
    ),
    (
        "queue-ha-policy.sh",
        include_str!("../../templates/queue-ha-policy.sh.j2"),
    ),
    (
        "rabbitmq-series-check.sh",
        include_str!("../../templates/rabbitmq-series-check.sh.j2"),
    ),
    (
        "rabbitmq-dropin.conf",
        include_str!("../../templates/rabbitmq-dropin.conf.j2"),
    ),
    (
        "queue-ha-policy.service",
        include_str!("../../templates/queue-ha-policy.service.j2"),
    ),
    (
        "queue-ha-policy.timer",
        include_str!("../../templates/queue-ha-policy.timer.j2"),
    ),
    ("etc-hosts", include_str!("../../templates/etc-hosts.j2")),
    (
        "inter-node-tls.config",
        include_str!("../../templates/inter-node-tls.config.j2"),
    ),
    (
        "rabbitmq-env.conf",
        include_str!("../../templates/rabbitmq-env.conf.j2"),
    ),
    (
        "keepalived-sysusers.conf",
        include_str!("../../templates/keepalived-sysusers.conf.j2"),
    ),
    (
        "sysctl-load-balancer.conf",
        include_str!("../../templates/sysctl-load-balancer.conf.j2"),
    ),
    (
        "blue-green.sh",
        include_str!("../../templates/blue-green.sh.j2"),
    ),
    (
        "nixos-flake.nix",
        include_str!("../../templates/nixos-flake.nix.j2"),
    ),
];

/// The template environment, built once per process: templates are parsed
/// once, not per render.
fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        if let Ok(syntax) = SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        // No template name ends in .html/.json/.yaml, so nothing is
        // auto-escaped; values are escaped explicitly (`sh`) or validated
        // to a character set that needs none.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("sh", |s: String| shell_quote(&s));
        add_nix_filters(&mut env);
        for (name, source) in TEMPLATES {
            // A template that does not parse is a build defect, caught by
            // `every_template_parses` below; skipping here keeps this infallible.
            let _ = env.add_template(name, source);
        }
        env
    })
}

/// `nix`: a Nix string literal; `nix_attr`: a Nix attribute name. Both go
/// through the one escaping function of [`nix`].
fn add_nix_filters(env: &mut Environment<'static>) {
    env.add_filter("nix", |s: String| nix::quoted(&s));
    env.add_filter("nix_attr", |s: String| {
        nix::attr_path(&nix::AttrPath::new(s, []))
    });
}

/// Renders a named template with a serialisable context.
///
/// The only source of [`Error::Internal`]: the templates are rmqgen's own,
/// compiled into the binary, and `every_template_renders_for_every_example`
/// renders each of them for every example in every provisioning and
/// provider, while the fuzz targets require that no spec, valid or not,
/// ends in an internal error.
pub(crate) fn render_template(name: &str, ctx: impl Serialize) -> Result<String, Error> {
    #[cfg(test)]
    tests::RENDERED.with(|r| r.borrow_mut().insert(name.to_string()));
    let tmpl = env().get_template(name)?;
    Ok(tmpl.render(Serde(ctx))?)
}

/// Renders every artifact of the plan: the role files, then how each
/// provisioning path delivers them.
pub fn render(plan: &Plan) -> Result<Bundle, Error> {
    deliver(plan, &roles::render(plan)?)
}

/// The bundle of `plan` around role files already rendered: the role files
/// themselves, every host's user-data (the whole host on the cloud-init
/// path, only its secrets, the NixOS image's first-boot seed, on the NixOS
/// path), the NixOS flake and the Terraform module.
pub fn deliver(plan: &Plan, roles: &Roles) -> Result<Bundle, Error> {
    let mut bundle = Bundle::new();
    for (path, artifact) in roles.artifacts() {
        bundle.insert(path, artifact);
    }
    let user_data = cloud_init::render(plan, roles);
    if plan.provisioning == Provisioning::Nixos {
        for (path, text) in nixos::render(plan, roles)? {
            bundle.insert(path, Artifact::file(text));
        }
    }
    for (path, text) in terraform::render(plan, &user_data) {
        bundle.insert(path, Artifact::file(text));
    }
    for (path, text) in user_data.into_files() {
        bundle.insert(path, Artifact::file(text));
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    thread_local! {
        /// Names of the templates rendered on this thread.
        pub(super) static RENDERED: std::cell::RefCell<BTreeSet<String>> =
            const { std::cell::RefCell::new(BTreeSet::new()) };
    }

    /// No spec that validates makes one of rmqgen's own templates fail:
    /// every example renders in both provisionings and on both providers,
    /// and together they render every template (a template no example
    /// reaches would go untested).
    #[test]
    fn every_template_renders_for_every_example() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut examples: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        examples.sort();
        assert!(examples.len() >= 5, "{examples:?}");
        let mut rendered = 0;
        for path in &examples {
            let source = std::fs::read_to_string(path).unwrap();
            for provisioning in ["cloud-init", "nixos"] {
                for provider in ["libvirt", "proxmox"] {
                    let mut spec: serde_json::Value = serde_json::from_str(&source).unwrap();
                    spec["provisioning"] = provisioning.into();
                    spec["target"]["provider"] = provider.into();
                    let at = format!("{} ({provisioning}, {provider})", path.display());
                    match crate::compile(&spec.to_string()) {
                        Ok(_) => rendered += 1,
                        // A variant the spec cannot take (e.g. an OS NixOS
                        // does not pin) is refused with diagnostics: fine.
                        Err(Error::Invalid(_)) => {}
                        Err(e) => panic!("{at}: {e}"),
                    }
                }
            }
        }
        assert!(
            rendered >= examples.len() * 2,
            "only {rendered} variants rendered"
        );
        // The migration script renders only for a blue-green change: the
        // pair the change tests use.
        let pair =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/changes/blue-green");
        let plan = |side: &str| {
            let spec = crate::load(pair.join(side)).unwrap();
            crate::validate(&spec).unwrap().plan
        };
        let migration = crate::bluegreen::migration(&plan("old.json"), &plan("new.json")).unwrap();
        assert!(
            migration.is_some(),
            "tests/changes/blue-green is not a blue-green change"
        );
        let names: BTreeSet<String> = TEMPLATES.iter().map(|(n, _)| n.to_string()).collect();
        let seen = RENDERED.with(|r| r.borrow().clone());
        let missed: Vec<_> = names.difference(&seen).collect();
        assert!(
            missed.is_empty(),
            "templates no example renders: {missed:?}"
        );
    }

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        env.add_filter("sh", |s: String| shell_quote(&s));
        add_nix_filters(&mut env);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
        assert!(super::env().get_template("haproxy.cfg").is_ok());
    }
}
