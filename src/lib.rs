//! # rmqgen
//!
//! Turns one typed topology spec into everything needed to stand up a highly
//! available RabbitMQ cluster on VMs: per-host HAProxy and keepalived
//! configuration, RabbitMQ configuration, definitions and the queue-HA
//! bootstrap.
//!
//! Data flows one way:
//!
//! ```text
//! spec.json --parse--> Spec --validate--> Plan --render--> Bundle --write/check--> disk
//! ```
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

#![deny(missing_docs)]

pub mod bundle;
pub mod diagnostic;
pub mod error;
mod locate;
pub mod net;
mod parse;
pub mod plan;
pub mod render;
pub mod spec;
pub mod validate;

pub use bundle::{Artifact, Bundle, Drift, DriftKind, Install, WriteOptions, WriteReport};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Location, Severity};
pub use error::{Error, Result};
pub use plan::Plan;
pub use spec::Spec;

use diagnostic::Diagnostic as Diag;

/// Parses a spec from JSON text. Syntax errors, wrong types and unknown
/// fields come back as one diagnostic with a JSON pointer and line/column.
pub fn parse(source: &str) -> Result<Spec> {
    parse::parse(source).map_err(Error::Invalid)
}

/// A spec that passed validation: its plan, and any warnings.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The resolved model.
    pub plan: Plan,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// Resolves a spec into its plan and validates it. All problems are
/// reported at once.
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

/// Renders every artifact of a plan. Pure: same plan, same bytes.
pub fn render(plan: &Plan) -> Result<Bundle> {
    render::render(plan)
}

/// What [`compile`] produces.
#[derive(Debug, Clone)]
pub struct Output {
    /// The resolved model.
    pub plan: Plan,
    /// Every generated file.
    pub bundle: Bundle,
    /// Warnings, with source locations.
    pub warnings: Diagnostics,
}

/// Parse, validate and render JSON text in one step. Diagnostics carry
/// line/column positions in `source`.
pub fn compile(source: &str) -> Result<Output> {
    let spec = parse(source)?;
    match validate(&spec) {
        Ok(Validated { plan, mut warnings }) => {
            let bundle = render(&plan)?;
            warnings.locate(source);
            Ok(Output {
                plan,
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

/// Validates JSON text: every diagnostic (errors and warnings), located.
/// Never fails; an empty list means the spec is clean.
pub fn diagnose(source: &str) -> Diagnostics {
    let spec = match parse(source) {
        Ok(s) => s,
        Err(Error::Invalid(d)) => return d,
        Err(e) => {
            let mut d = Diagnostics::new();
            d.push(Diag::error(Code::Syntax, "", e.to_string()));
            return d;
        }
    };
    let mut d = validate::check(&spec);
    d.locate(source);
    d
}

/// The JSON Schema of the spec, as `schemas/topology.schema.json` holds it.
pub fn schema() -> String {
    let schema = schemars::schema_for!(Spec);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The reference five-VM spec (`examples/five-vm.json`), as `rmqgen init`
/// prints it.
pub fn reference_spec() -> String {
    include_str!("../examples/five-vm.json").to_string()
}

/// The README's Rust examples compile and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
