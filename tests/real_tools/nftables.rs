//! The host firewall's rulesets against the real `nft`: every rendered
//! ruleset of every example (and of the firewall fixtures: open lists, an
//! empty one) is accepted by `nft -c`, then loaded twice into a fresh
//! network namespace: the second load replaces the table instead of
//! failing or duplicating it, which is what a reload of nftables.service
//! (or a NixOS switch) does.

use std::path::Path;
use std::time::Duration;

use super::harness::{self, artifact, compile, for_each_example, require, run, TempDir};

const NFT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every host's ruleset of `out`: (host, text).
fn rulesets(out: &rmqgen::Output) -> Vec<(String, String)> {
    out.plan
        .hosts
        .iter()
        .map(|h| {
            let path = format!("firewall/{}/nftables.conf", h.name);
            (h.name.to_string(), artifact(out, &path).text().to_string())
        })
        .collect()
}

/// `nft` with `args` in a network namespace of its own (the machine's
/// ruleset is never touched).
fn nft_alone(script: &str, file: &Path) -> harness::Outcome {
    let mut cmd = std::process::Command::new("unshare");
    cmd.env("PATH", harness::search_path()).args([
        "--net",
        "sh",
        "-ec",
        script,
        "nft-check",
        &file.to_string_lossy(),
    ]);
    run(&mut cmd, NFT_TIMEOUT)
}

fn check_ruleset(context: &str, file: &Path) {
    nft_alone("nft -c -f \"$1\"", file).expect_success(&format!("{context}: nft -c"));
    let o = nft_alone("nft -f \"$1\"; nft -f \"$1\"; nft list ruleset", file)
        .expect_success(&format!("{context}: nft -f twice"));
    let listed = o.stdout;
    assert_eq!(
        listed.matches("table inet rmqgen {").count(),
        1,
        "{context}: {listed}"
    );
    assert_eq!(listed.matches("table ").count(), 1, "{context}: {listed}");
    assert!(listed.contains("policy drop;"), "{context}: {listed}");
    assert!(listed.contains("counter dropped {"), "{context}: {listed}");
    assert!(
        listed.contains("counter name \"dropped\" drop"),
        "{context}: {listed}"
    );
}

/// The fixtures whose firewall lists differ from the default.
fn fixtures() -> Vec<(String, String)> {
    ["warnings/firewall-open.json"]
        .into_iter()
        .map(|f| {
            let path = Path::new(harness::ROOT).join("tests").join(f);
            let source = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (f.to_string(), source)
        })
        .collect()
}

#[test]
#[ignore = "needs root and nft (nftables); run by scripts/test-all.sh"]
fn nft_accepts_every_rendered_ruleset() {
    if require(&["nft", "unshare"], true).is_none() {
        return;
    }
    let dir = TempDir::new("nft");
    let check = |label: &str, source: &str| {
        let out = compile(label, source);
        for (host, text) in rulesets(&out) {
            let file = dir.write(
                &format!("{}-{host}.nft", label.replace('/', "_")),
                text.as_bytes(),
                0o644,
            );
            check_ruleset(&format!("{label}: {host}"), &file);
        }
    };
    for_each_example("nft -c", |ex| check(&ex.name, &ex.source));
    for (label, source) in fixtures() {
        check(&label, &source);
    }
}

/// The check can fail: a broken rule is reported.
#[test]
#[ignore = "needs root and nft (nftables); run by scripts/test-all.sh"]
fn nft_rejects_a_broken_ruleset() {
    if require(&["nft", "unshare"], true).is_none() {
        return;
    }
    let out = compile("the reference spec", &rmqgen::reference_spec());
    let (host, text) = rulesets(&out).remove(0);
    let broken = text.replacen("policy drop;", "policy rmqgen_bogus;", 1);
    assert_ne!(broken, text, "{host}: no `policy drop;`");
    let dir = TempDir::new("nft-neg");
    let file = dir.write("broken.nft", broken.as_bytes(), 0o644);
    let o = nft_alone("nft -c -f \"$1\"", &file);
    assert!(!o.success(), "nft accepted a bogus policy: {o}");
}
