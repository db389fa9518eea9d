//! # rmqgen
//!
//! Turns one typed topology spec into everything needed to stand up a highly
//! available RabbitMQ cluster on virtual machines: three brokers (or any
//! count) behind two or more HAProxy load balancers that share a floating
//! virtual IP through keepalived, with a queue replication policy.
//!
//! Data flows one way:
//!
//! ```text
//! spec.json --parse--> Spec --validate--> Plan --render--> Bundle --write/check--> disk
//! ```
//!
//! ## What it renders
//!
//! [`render`] returns a [`Bundle`]: a sorted map from a path in the output
//! directory to the file's bytes, its mode and, for files that land on a
//! host, where and on which hosts they are installed. Same spec, same bytes.
//!
//! - **Role files**, one rendering per role file, installed on the hosts:
//!   `haproxy/<lb>/haproxy.cfg` and its systemd drop-in and sysctl,
//!   `keepalived/<lb>/keepalived.conf` with the HAProxy check script, its
//!   user and drop-in, `rabbitmq/rabbitmq.conf`, `enabled_plugins` and
//!   `definitions.json`, the idempotent queue-HA bootstrap
//!   `bootstrap/queue-ha-policy.sh`, and the `/etc/hosts` fragment
//!   `hosts/etc-hosts`. [`Bundle::files_for_host`] lists what one host gets.
//! - **cloud-init**: `cloud-init/<host>.yaml.tftpl`, each host's
//!   `#cloud-config` user-data as a Terraform template. With the default
//!   `provisioning: "cloud-init"` it configures the whole host (packages,
//!   the role files with owner and mode, services in order); with
//!   `"nixos"` it carries only the host's secrets for the first boot.
//! - **Terraform**: `terraform/*.tf`, a root module for libvirt or Proxmox VE
//!   (`target.provider`) that creates the VMs and boots each with its
//!   user-data. Secrets (Erlang cookie, user and stats passwords) come from
//!   `random_password`, files or sensitive variables; none is ever in the
//!   bundle.
//! - **NixOS** (`provisioning: "nixos"`): `nixos/`, a flake with every host's
//!   NixOS configuration, the first-boot image and rmqgen's role modules.
//!
//! ## The API
//!
//! | step | function | input → output |
//! |---|---|---|
//! | read | [`load`] / [`parse`] | a file / JSON text → [`Spec`] |
//! | check | [`validate`] | [`Spec`] → [`Validated`] (the [`Plan`] and its warnings) |
//! | render | [`render`] | [`Plan`] → [`Bundle`] |
//! | write | [`Bundle::write`] / [`Bundle::check`] | [`Bundle`] → a directory, or its drift |
//! | all at once | [`compile`] | JSON text → [`Output`], diagnostics with line and column |
//! | change | [`plan_change`] | two [`Spec`]s → [`ChangePlan`] (day 2: what moving a running cluster takes) |
//! | roll out | [`rollout()`] | two [`Spec`]s → [`Rollout`] (the script that carries the plan out on the running cluster) |
//!
//! [`validate`] is the one way to check a spec: it runs every rule, and
//! either returns the resolved [`Plan`] (there is no plan of an invalid
//! spec, and no way to render one) or fails with [`Error::Invalid`], which
//! holds every [`Diagnostic`] and displays all of them, so `?` into
//! `anyhow` loses none. [`compile`] and [`diagnose`] are the same steps on
//! JSON text, adding source positions; a spec built or changed in code
//! goes through [`validate`]. The [`spec`] and [`plan`] modules hold the
//! types of the document and of the resolved model.
//!
//! ```
//! let source = rmqgen::reference_spec();
//! let output = rmqgen::compile(&source).expect("the reference spec is valid");
//! let haproxy = output.bundle.get("haproxy/haproxy-1/haproxy.cfg").unwrap();
//! assert!(haproxy.text().contains("timeout client 180s"));
//! // Warnings do not stop rendering (here: classic mirroring is deprecated).
//! assert!(output.warnings.iter().all(|d| d.severity == rmqgen::Severity::Warning));
//! ```
//!
//! Invalid specs report every problem at once, each with a JSON pointer:
//!
//! ```
//! let spec = rmqgen::reference_spec().replace("192.168.247.160", "10.0.0.1");
//! let Err(rmqgen::Error::Invalid(diagnostics)) = rmqgen::compile(&spec) else { panic!() };
//! let first = diagnostics.iter().find(|d| d.code == rmqgen::Code::OutsideNetwork).unwrap();
//! assert_eq!(first.pointer, "/vip");
//! ```
//!
//! A spec can be built in code as well; optional sections default:
//!
//! ```
//! use rmqgen::spec::{InstallSource, LoadBalancer, Node, QueueHaMode, RabbitMq, Spec};
//!
//! let mut spec = Spec::new(
//!     "mq",
//!     "10.0.0.0/24",
//!     "10.0.0.100",
//!     RabbitMq::new("4.1", QueueHaMode::Quorum),
//! );
//! // Debian 13 (the default os) ships 4.0; 4.1 comes from Team RabbitMQ.
//! spec.rabbitmq.install = Some(InstallSource::TeamRabbitmq {});
//! spec.brokers = (1..=3).map(|i| Node::new(format!("mq-{i}"), format!("10.0.0.{}", 10 + i))).collect();
//! spec.load_balancers = vec![LoadBalancer::new("lb-1", "10.0.0.21"), LoadBalancer::new("lb-2", "10.0.0.22")];
//! spec.network.gateway = Some("10.0.0.1".into());
//! spec.network.dns = vec!["10.0.0.1".into()];
//! spec.ssh_authorized_keys = vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMvyTg3GlU7Ww6y4YDvvX2QGq5KJf4bL8RdfM+6T5Ie9 ops@example".into()];
//!
//! let validated = rmqgen::validate(&spec)?;
//! assert!(validated.warnings.is_empty(), "{}", validated.warnings);
//! let bundle = rmqgen::render(&validated.plan)?;
//! assert!(bundle.get("keepalived/lb-1/keepalived.conf").is_some());
//! # Ok::<(), rmqgen::Error>(())
//! ```
//!
//! ## Features
//!
//! - `cli` (default): the `rmqgen` command-line tool and the dependencies
//!   only it needs (`clap`, `anyhow`). A program that embeds the library
//!   turns it off: `rmqgen = { version = "0.1", default-features = false }`.

#![deny(missing_docs)]

pub mod bluegreen;
pub mod bundle;
pub mod change;
// Modules whose public items are re-exported below: the documented API is
// the root, not the module path.
#[doc(hidden)]
pub mod diagnostic;
#[doc(hidden)]
pub mod error;
mod locate;
pub mod net;
mod parse;
pub mod plan;
// The renderers; use [`render()`]. What the integration tests read of them
// is re-exported by `testing`.
pub(crate) mod render;
// What lands on a host: each role file rendered once, for every delivery
// path. Reached through [`Output::roles`].
pub(crate) mod roles;
pub mod rollout;
pub mod spec;
// Internals for rmqgen's own integration tests (tests/lib.rs), with the
// `testing` feature only: not part of the API.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;
// The rule engine. Use [`validate()`], which also builds the plan.
mod validate;

use std::path::Path;

pub use bundle::{
    Artifact, Bundle, Drift, DriftKind, Install, Refusal, RefusalReason, WriteOptions, WriteReport,
};
pub use change::{Change, ChangeError, ChangeKind, ChangePlan};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Location, Severity};
pub use error::{Error, Result};
pub use plan::Plan;
pub use rollout::{Rollout, RolloutError};
pub use spec::Spec;

/// Parses a spec from JSON text. Syntax errors, wrong types and unknown
/// fields come back as [`Error::Invalid`] with one diagnostic that has a
/// JSON pointer and a line and column. Values are not checked yet: that is
/// [`validate`].
///
/// ```
/// let spec = rmqgen::parse(&rmqgen::reference_spec())?;
/// assert_eq!(spec.brokers.len(), 3);
///
/// let typo = rmqgen::parse(r#"{"nmae": "mq"}"#).unwrap_err();
/// assert!(typo.to_string().contains("error[RMQ002]"), "{typo}");
/// # Ok::<(), rmqgen::Error>(())
/// ```
pub fn parse(source: &str) -> Result<Spec> {
    parse::parse(source).map_err(Error::Invalid)
}

/// Reads a spec file and [`parse`]s it. A file that cannot be read is
/// [`Error::Io`].
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/five-vm.json");
/// let spec = rmqgen::load(path)?;
/// assert_eq!(spec.name, "rmq-prod");
/// assert!(matches!(rmqgen::load("no-such-spec.json"), Err(rmqgen::Error::Io { .. })));
/// # Ok::<(), rmqgen::Error>(())
/// ```
pub fn load(path: impl AsRef<Path>) -> Result<Spec> {
    let path = path.as_ref();
    let source = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&source)
}

/// A spec that passed [`validate`]: its plan, and any warnings.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The resolved model: every default filled in, every derived value
    /// computed. [`render`] takes it.
    pub plan: Plan,
    /// Warnings (never errors). Empty when the spec is clean.
    pub warnings: Diagnostics,
}

/// Validates a spec and builds its plan: the one way to check a spec.
///
/// Every rule runs and every problem is reported at once. With no errors
/// the result holds the [`Plan`] and the warnings; otherwise
/// [`Error::Invalid`] holds every diagnostic, errors and warnings, sorted by
/// JSON pointer. A [`Spec`] carries no source text, so these diagnostics
/// have no line and column; [`compile`] adds them for JSON text.
///
/// ```
/// let mut spec = rmqgen::parse(&rmqgen::reference_spec())?;
/// let validated = rmqgen::validate(&spec)?;
/// assert_eq!(validated.plan.brokers.len(), 3);
///
/// spec.vip = "10.0.0.1".into(); // outside 192.168.247.0/24
/// let Err(rmqgen::Error::Invalid(d)) = rmqgen::validate(&spec) else { panic!() };
/// assert!(d.iter().any(|d| d.code == rmqgen::Code::OutsideNetwork && d.pointer == "/vip"));
/// # Ok::<(), rmqgen::Error>(())
/// ```
pub fn validate(spec: &Spec) -> Result<Validated> {
    let (plan, diagnostics) = validate::resolve(spec);
    if diagnostics.has_errors() {
        return Err(Error::Invalid(diagnostics));
    }
    Ok(Validated {
        plan,
        warnings: diagnostics,
    })
}

/// Every diagnostic of a spec: the one place the rules are run from.
fn check(spec: &Spec) -> Diagnostics {
    validate::check(spec)
}

/// Renders every artifact of a plan into memory. Pure: same plan, same
/// bytes. [`Bundle::write`] puts them on disk.
///
/// ```
/// let plan = rmqgen::validate(&rmqgen::parse(&rmqgen::reference_spec())?)?.plan;
/// let bundle = rmqgen::render(&plan)?;
/// let cfg = bundle.get("keepalived/haproxy-1/keepalived.conf").unwrap();
/// assert!(cfg.text().contains("virtual_router_id 74"));
/// # Ok::<(), rmqgen::Error>(())
/// ```
pub fn render(plan: &Plan) -> Result<Bundle> {
    render::render(plan)
}

/// What it takes to move a running cluster from `old` to `new` (day 2):
/// both specs are validated, both plans resolved and both sets of role
/// files rendered, and every difference between them is classified as a
/// [`Change`] (no-op, reload, rolling restart, adding or removing a host,
/// a version hop, a disruptive network, VIP or OS change, a blue-green
/// migration), in the order to make them.
///
/// Fails with [`ChangeError::InvalidOld`] or [`ChangeError::InvalidNew`]
/// when a spec is invalid, and with [`ChangeError::Refused`] when the
/// change cannot be made to a running cluster (a version that skips a
/// supported upgrade hop, a downgrade, a host changing role): coded
/// diagnostics with hints, pointing into `new`.
///
/// ```
/// let old = rmqgen::parse(&rmqgen::reference_spec())?;
/// assert!(rmqgen::plan_change(&old, &old)?.is_noop());
///
/// let mut new = old.clone();
/// new.brokers.push(rmqgen::spec::Node::new("rabbitmq-4", "192.168.247.155"));
/// let plan = rmqgen::plan_change(&old, &new)?;
/// assert!(plan.changes.iter().any(|c| c.kind == rmqgen::ChangeKind::AddBroker));
///
/// // 4.0 to 4.3 skips 4.2: refused, with the path to take.
/// let quorum = |os: &str, version: &str| {
///     let text = rmqgen::reference_spec()
///         .replace("debian-12", os)
///         .replace("\"3.10\"", &format!("\"{version}\""))
///         .replace("classic-mirrored", "quorum");
///     rmqgen::parse(&text).unwrap()
/// };
/// let err = rmqgen::plan_change(&quorum("debian-13", "4.0"), &quorum("debian-sid", "4.3"))
///     .unwrap_err();
/// let d = err.diagnostics().unwrap().iter().next().unwrap();
/// assert_eq!((d.code, d.pointer.as_str()), (rmqgen::Code::UpgradeHop, "/rabbitmq/version"));
/// assert!(d.message.contains("4.0 → 4.2 → 4.3"), "{}", d.message);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_change(old: &Spec, new: &Spec) -> std::result::Result<ChangePlan, ChangeError> {
    Compared::of(old, new)?.plan()
}

/// The rollout script that carries out [`plan_change`]'s plan on the
/// running cluster (`rollout/rollout.sh` for cloud-init hosts,
/// `rollout/nixos.sh` for NixOS hosts): each kept host gets exactly the
/// role files NEW renders for it, restarts go one host at a time behind
/// health gates, and the script is idempotent and resumable. Fails like
/// [`plan_change`], and with [`RolloutError::Unsupported`] for changes the
/// script does not carry out (a version hop, a blue-green migration,
/// changes that rebuild hosts).
///
/// ```
/// let old = rmqgen::parse(&rmqgen::reference_spec())?;
/// let mut new = old.clone();
/// new.brokers.push(rmqgen::spec::Node::new("rabbitmq-4", "192.168.247.155"));
/// let rollout = rmqgen::rollout(&old, &new)?;
/// assert_eq!(rollout.path, "rollout/rollout.sh");
/// assert!(rollout.script.contains("step 'join:rabbitmq-4'"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn rollout(old: &Spec, new: &Spec) -> std::result::Result<Rollout, RolloutError> {
    Compared::of(old, new)?.rollout(|f| f.contents.clone())
}

/// Both sides of a change: plans and role files.
pub(crate) struct Compared {
    old: (Plan, render::Roles),
    new: (Plan, render::Roles),
}

impl Compared {
    pub(crate) fn of(old: &Spec, new: &Spec) -> std::result::Result<Self, ChangeError> {
        let side = |spec: &Spec, invalid: fn(Diagnostics) -> ChangeError| {
            let (plan, diagnostics) = validate::resolve(spec);
            if diagnostics.has_errors() {
                return Err(invalid(diagnostics));
            }
            // Only a defect in one of rmqgen's own templates fails here (every
            // filter is infallible and undefined values are strict errors), never
            // a spec that validated: minijinja's render is fallible by type.
            let roles = roles::render(&plan).map_err(|e| ChangeError::Internal(e.to_string()))?;
            Ok((plan, roles))
        };
        Ok(Self {
            old: side(old, ChangeError::InvalidOld)?,
            new: side(new, ChangeError::InvalidNew)?,
        })
    }

    fn sides(&self) -> (change::Side<'_>, change::Side<'_>) {
        (
            change::Side {
                plan: &self.old.0,
                roles: &self.old.1,
            },
            change::Side {
                plan: &self.new.0,
                roles: &self.new.1,
            },
        )
    }

    pub(crate) fn plan(&self) -> std::result::Result<ChangePlan, ChangeError> {
        let (old, new) = self.sides();
        let mut plan = change::compare(old, new).map_err(ChangeError::Refused)?;
        if plan.is_noop() {
            // Nothing classified: the rendered bundles must be the same too,
            // or the difference is reported as it is.
            let bundle = |p: &Plan, r: &render::Roles| {
                render::deliver(p, r).map_err(|e| ChangeError::Internal(e.to_string()))
            };
            let (a, b) = (
                bundle(&self.old.0, &self.old.1)?,
                bundle(&self.new.0, &self.new.1)?,
            );
            change::unclassified(&mut plan, &a, &b);
        }
        Ok(plan)
    }

    /// The rollout, with the role files' contents as `contents` gives them
    /// (the snapshot tests show them as references).
    pub(crate) fn rollout(
        &self,
        contents: impl Fn(&roles::RoleFile) -> String,
    ) -> std::result::Result<Rollout, RolloutError> {
        let plan = self.plan()?;
        let (old, new) = self.sides();
        rollout::render(&plan, &old, &new, &contents).map_err(RolloutError::Unsupported)
    }
}

/// What [`compile`] produces.
#[derive(Debug, Clone)]
pub struct Output {
    /// The resolved model.
    pub plan: Plan,
    /// The role files, as every delivery path installs them.
    pub roles: render::Roles,
    /// Every generated file.
    pub bundle: Bundle,
    /// Warnings, with source locations.
    pub warnings: Diagnostics,
}

/// [`parse`], [`validate`] and [`render`] JSON text in one step. Every
/// diagnostic, in the error or among the warnings, carries its line and
/// column in `source`.
///
/// ```
/// let output = rmqgen::compile(&rmqgen::reference_spec())?;
/// assert!(output.bundle.get("terraform/main.tf").is_some());
/// // Classic mirroring is deprecated, and the example carries no SSH key.
/// assert_eq!(output.warnings.summary(), "2 warnings");
/// # Ok::<(), rmqgen::Error>(())
/// ```
pub fn compile(source: &str) -> Result<Output> {
    let spec = parse(source)?;
    match validate(&spec) {
        Ok(Validated { plan, mut warnings }) => {
            let roles = roles::render(&plan)?;
            let bundle = render::deliver(&plan, &roles)?;
            warnings.locate(source);
            Ok(Output {
                plan,
                roles,
                bundle,
                warnings,
            })
        }
        Err(Error::Invalid(mut d)) => {
            d.locate(source);
            Err(Error::Invalid(d))
        }
        Err(e) => Err(e),
    }
}

/// Every diagnostic of JSON text, errors and warnings, located: what
/// `rmqgen validate` prints. [`parse`] and the rules of [`validate`]
/// without building a plan; never fails, and an empty list means the spec
/// is clean. For a spec in code, call [`validate`].
///
/// ```
/// let bad = rmqgen::reference_spec().replace("\"3.10\"", "\"4.1\"");
/// let d = rmqgen::diagnose(&bad);
/// assert!(d.has_errors()); // classic mirroring is gone in 4.x, and Debian 12 ships 3.10
/// let first = d.iter().next().unwrap();
/// assert!(first.location.is_some());
/// ```
pub fn diagnose(source: &str) -> Diagnostics {
    let mut d = match parse::parse(source) {
        Ok(spec) => check(&spec),
        Err(d) => d,
    };
    d.locate(source);
    d
}

/// The JSON Schema of the spec, as `schemas/topology.schema.json` holds it.
///
/// ```
/// assert!(rmqgen::schema().contains("\"title\": \"rmqgen topology\""));
/// ```
pub fn schema() -> String {
    let schema = schemars::schema_for!(Spec);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The reference five-VM spec (`examples/five-vm.json`), as `rmqgen init`
/// prints it: three brokers, two load balancers.
///
/// ```
/// assert!(rmqgen::compile(&rmqgen::reference_spec()).is_ok());
/// ```
pub fn reference_spec() -> String {
    include_str!("../examples/five-vm.json").to_string()
}

/// The README's Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The Rust examples of docs/library.md compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/library.md")]
struct LibraryDocDoctests;
