//! What every fuzz target checks of an input, whatever it is.

use rmqgen::Error;

/// Runs `rmqgen::diagnose` and `rmqgen::compile` on `source` and checks
/// what the library promises for every input (besides not panicking,
/// arithmetic overflow included: scripts/fuzz.sh builds with debug
/// assertions):
///
/// - no input is an internal error (`Error::Internal` means a bug);
/// - `compile` and `diagnose` agree: a spec compiles exactly when
///   `diagnose` reports no error, and a refused spec is refused with the
///   same diagnostics;
/// - every diagnostic has a JSON pointer (or none), a message and a hint;
/// - every JSON artifact parses, and every Terraform file parses as HCL.
///
/// Returns whether the spec rendered.
pub fn check(source: &str) -> bool {
    let diagnostics = rmqgen::diagnose(source);
    for d in &diagnostics {
        assert!(
            d.pointer.is_empty() || d.pointer.starts_with('/'),
            "not a JSON pointer: {d}"
        );
        assert!(!d.message.trim().is_empty(), "no message: {d}");
        assert!(
            d.hint.as_deref().is_some_and(|h| !h.trim().is_empty()),
            "no hint: {d}"
        );
    }
    match rmqgen::compile(source) {
        Ok(output) => {
            assert!(
                !diagnostics.has_errors(),
                "compiled although diagnose reports errors:\n{diagnostics}"
            );
            assert_eq!(output.warnings, diagnostics);
            assert!(!output.bundle.is_empty());
            for (path, artifact) in output.bundle.iter() {
                if path.ends_with(".json") {
                    if let Err(e) = serde_json::from_str::<serde_json::Value>(artifact.text()) {
                        panic!("{path} is not JSON: {e}");
                    }
                } else if path.ends_with(".tf") {
                    if let Err(e) = hcl::parse(artifact.text()) {
                        panic!("{path} is not HCL: {e}");
                    }
                }
            }
            true
        }
        Err(Error::Invalid(d)) => {
            assert!(d.has_errors(), "refused without an error:\n{d}");
            assert_eq!(d, diagnostics, "compile and diagnose disagree");
            false
        }
        Err(e) => panic!("compile failed with a non-diagnostic error: {e}"),
    }
}
