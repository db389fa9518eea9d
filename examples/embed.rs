//! Embedding rmqgen in a Rust program: load a spec, change it in code,
//! validate, render into memory and print one artifact. Nothing is written
//! to disk.
//!
//! ```sh
//! cargo run --example embed                          # examples/five-vm.json
//! cargo run --example embed -- examples/quorum-4x.json
//! ```
//!
//! A tool that only embeds the library depends on it with
//! `default-features = false`, which leaves out the command-line tool and
//! its dependencies.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1);
    let artifact = run(path.as_deref())?;
    print!("{artifact}");
    Ok(())
}

/// Does the work and returns the artifact's text.
fn run(path: Option<&str>) -> anyhow::Result<String> {
    // 1. Load: a path from the command line, or the reference spec built
    //    into the library (examples/five-vm.json).
    let mut spec = match path {
        Some(path) => rmqgen::load(path)?,
        None => rmqgen::parse(&rmqgen::reference_spec())?,
    };

    // 2. Change values in code: the optional sections default, so set
    //    only what differs. Check each broker every 2 s instead of 1 s, and
    //    allow more connections.
    let haproxy = spec.haproxy.get_or_insert_default();
    haproxy.check.get_or_insert_default().interval_ms = Some(2000);
    haproxy.maxconn = Some(20_000);

    // 3. Validate: every problem at once. On error, `?` carries every
    //    diagnostic (with its JSON pointer and hint) into the anyhow error.
    let validated = rmqgen::validate(&spec).context("validating the changed spec")?;
    for warning in &validated.warnings {
        eprintln!("{warning}");
    }

    // 4. Render into memory and pick one artifact.
    let bundle = rmqgen::render(&validated.plan)?;
    let lb = &validated.plan.load_balancers[0].name;
    let path = format!("haproxy/{lb}/haproxy.cfg");
    let cfg = bundle
        .get(&path)
        .with_context(|| format!("{path} is not in the bundle"))?;
    eprintln!("{path}: one of {} generated files", bundle.len());
    Ok(cfg.text().to_string())
}

/// `cargo test` runs this (the example is declared with `test = true`), so
/// the example cannot rot.
#[cfg(test)]
mod tests {
    use super::*;
    use rmqgen::spec::HealthCheck;

    #[test]
    fn the_change_reaches_the_rendered_haproxy_cfg() {
        let cfg = run(None).unwrap();
        // HAProxy reads "2000ms" and "2s" alike.
        assert!(
            cfg.contains("check inter 2000ms ") || cfg.contains("check inter 2s "),
            "{cfg}"
        );
        assert!(cfg.contains("maxconn 20000\n"), "{cfg}");

        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/five-vm.json");
        assert_eq!(run(Some(path)).unwrap(), cfg, "the same spec from its file");
    }

    #[test]
    fn an_invalid_change_keeps_every_diagnostic_in_the_error() {
        let mut spec = rmqgen::parse(&rmqgen::reference_spec()).unwrap();
        spec.haproxy.get_or_insert_default().check = Some(HealthCheck {
            rise: Some(0),
            fall: Some(0),
            ..HealthCheck::default()
        });
        let err = anyhow::Error::from(rmqgen::validate(&spec).unwrap_err());
        let text = format!("{err:#}");
        assert!(text.contains("/haproxy/check/rise"), "{text}");
        assert!(text.contains("/haproxy/check/fall"), "{text}");
    }
}
