//! Fixture-driven snapshot tests: every example spec is compiled and every
//! artifact of its bundle is snapshotted on its own, so a diff names the one
//! file that changed.
//!
//! Snapshots live in the repository's `snapshots/` directory, named
//! `<artifact path with '/' replaced by '__'>@<example stem>.snap`. Besides
//! the artifacts, each example has `artifacts@<stem>` (the list of paths, with
//! mode and where each file is installed, so an added or removed file shows
//! up) and `warnings@<stem>` (the warnings as `rmqgen validate` prints them).
//!
//! Each role file's text is snapshotted once, so a line of a role template
//! changes one snapshot per artifact family:
//! - a role file family (`haproxy/<host>/haproxy.cfg`, `rabbitmq/rabbitmq.conf`,
//!   ...) has its full text in one snapshot, of the reference example
//!   ([`REFERENCE`]) and its first host; every other member (other hosts,
//!   other examples) is snapshotted as the lines in which it differs from
//!   that reference;
//! - delivery artifacts (cloud-init user-data, NixOS host files, Terraform)
//!   are snapshotted as rendered from the same roles with each role file's
//!   text replaced by a one-line reference to it. They do embed the text (the
//!   user-data writes it, the NixOS host hands it to the modules); that the
//!   embedded bytes are exactly the role file's is asserted by
//!   `tests/cloud_init_tools.rs`, `tests/nixos.rs` and `tests/nix_tools.rs`.
//!
//! Review a change with `cargo insta review`, or accept everything with
//! `INSTA_UPDATE=always cargo test` and read the diff before committing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

const SNAPSHOT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots");
const EXAMPLES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");

/// The example whose role files are snapshotted in full: the reference spec.
const REFERENCE: &str = "five-vm";

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("fixture file names are UTF-8")
        .to_string()
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(EXAMPLES_DIR)
        .expect("examples/ exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no examples/*.json found");
    out
}

fn compile(path: &Path) -> rmqgen::Output {
    let source = std::fs::read_to_string(path).expect("example is readable");
    match rmqgen::compile(&source) {
        Ok(output) => output,
        Err(rmqgen::Error::Invalid(d)) => {
            panic!(
                "{} is an example but does not compile:\n{d}",
                path.display()
            )
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The snapshot name of an artifact: its bundle path with `/` spelled `__`.
fn snapshot_name(artifact_path: &str) -> String {
    artifact_path.replace('/', "__")
}

/// Metadata stored in each artifact snapshot's header (reviewed with it).
#[derive(Serialize)]
struct ArtifactInfo<'a> {
    path: &'a str,
    mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    install: Option<InstallInfo<'a>>,
    /// For a role file that is not its family's reference: the snapshot
    /// (`<bundle path>@<example>`) whose text this one's lines differ from.
    #[serde(skip_serializing_if = "Option::is_none")]
    differs_from: Option<&'a str>,
}

/// [`rmqgen::Install`] with the mode in octal.
#[derive(Serialize)]
struct InstallInfo<'a> {
    path: &'a str,
    owner: &'a str,
    group: &'a str,
    mode: String,
    append: bool,
    hosts: &'a [String],
}

impl<'a> ArtifactInfo<'a> {
    fn new(path: &'a str, artifact: &'a rmqgen::Artifact, differs_from: Option<&'a str>) -> Self {
        Self {
            path,
            mode: format!("{:04o}", artifact.mode),
            install: artifact.install.as_ref().map(|i| InstallInfo {
                path: &i.path,
                owner: &i.owner,
                group: &i.group,
                mode: format!("{:04o}", i.mode),
                append: i.append,
                hosts: &i.hosts,
            }),
            differs_from,
        }
    }
}

/// One line per artifact: mode, bundle path, and where it is installed.
fn artifact_list(bundle: &rmqgen::Bundle) -> String {
    let mut out = String::new();
    for (path, artifact) in bundle.iter() {
        write!(out, "{:04o} {path}", artifact.mode).unwrap();
        if let Some(i) = &artifact.install {
            write!(
                out,
                "\n     -> {}{} {}:{} {:04o} on {}",
                if i.append { "(append) " } else { "" },
                i.path,
                i.owner,
                i.group,
                i.mode,
                i.hosts.join(", ")
            )
            .unwrap();
        }
        out.push('\n');
    }
    out
}

/// The family of a role file: its bundle path with the host it is rendered
/// for (a path segment naming a host) spelled `<host>`.
fn family(output: &rmqgen::Output, bundle_path: &str) -> String {
    bundle_path
        .split('/')
        .map(|seg| {
            if output.plan.hosts.iter().any(|h| h.name.as_str() == seg) {
                "<host>"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The reference member of every role file family: (name, text).
fn reference_role_files() -> std::collections::BTreeMap<String, (String, String)> {
    let output = compile(&Path::new(EXAMPLES_DIR).join(format!("{REFERENCE}.json")));
    let mut out = std::collections::BTreeMap::new();
    for file in output.roles.files() {
        out.entry(family(&output, &file.bundle_path))
            .or_insert_with(|| {
                (
                    format!("{}@{REFERENCE}", file.bundle_path),
                    file.contents.clone(),
                )
            });
    }
    out
}

/// The lines in which `text` differs from `reference`, without line numbers
/// or context (so a line changed elsewhere in both does not show here): a
/// longest-common-subsequence diff, each run of changes after `@@`.
fn line_diff(reference: &str, text: &str) -> String {
    let a: Vec<&str> = reference.lines().collect();
    let b: Vec<&str> = text.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..], b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    let mut in_hunk = false;
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            in_hunk = false;
            i += 1;
            j += 1;
            continue;
        }
        if !in_hunk {
            out.push_str("@@\n");
            in_hunk = true;
        }
        if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            writeln!(out, "-{}", a[i]).unwrap();
            i += 1;
        } else {
            writeln!(out, "+{}", b[j]).unwrap();
            j += 1;
        }
    }
    if out.is_empty() {
        out.push_str("(the same text)\n");
    }
    out
}

/// A delivery artifact's snapshot stands for a role file's text by this line.
fn role_file_reference(file: &rmqgen::testing::RoleFile) -> String {
    format!("(role file {}, snapshotted on its own)\n", file.bundle_path)
}

#[test]
fn every_artifact_of_every_example() {
    let references = reference_role_files();
    insta::glob!("../examples", "*.json", |path| {
        let example = stem(path);
        let output = compile(path);
        assert!(!output.bundle.is_empty(), "{example}: empty bundle");
        // The same delivery, with every role file's text replaced by a
        // reference to it.
        let by_reference = rmqgen::testing::deliver(
            &output.plan,
            &output.roles.with_contents(role_file_reference),
        )
        .unwrap();
        let paths = |b: &rmqgen::Bundle| b.iter().map(|(p, _)| p.to_string()).collect::<Vec<_>>();
        assert_eq!(paths(&by_reference), paths(&output.bundle), "{example}");

        for (path, artifact) in output.bundle.iter() {
            let text = std::str::from_utf8(&artifact.bytes)
                .unwrap_or_else(|e| panic!("{example}: {path} is not UTF-8: {e}"));
            let role_file = output
                .roles
                .files()
                .into_iter()
                .find(|f| f.bundle_path == path);
            let mut reference = None;
            let text = match role_file {
                Some(_) => match references.get(&family(&output, path)) {
                    // A family the reference example does not have (the
                    // inter-node TLS files) is snapshotted in full.
                    None => text.to_string(),
                    Some((name, _)) if *name == format!("{path}@{example}") => text.to_string(),
                    Some((name, ref_text)) => {
                        reference = Some(name.as_str());
                        line_diff(ref_text, text)
                    }
                },
                None => by_reference.get(path).unwrap().text().to_string(),
            };
            let info = ArtifactInfo::new(path, artifact, reference);
            insta::with_settings!({
                snapshot_path => "../snapshots",
                prepend_module_to_snapshot => false,
                omit_expression => true,
                snapshot_suffix => example.as_str(),
                info => &info,
            }, {
                insta::assert_snapshot!(snapshot_name(path), text);
            });
        }

        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            snapshot_suffix => example.as_str(),
        }, {
            insta::assert_snapshot!("artifacts", artifact_list(&output.bundle));
            let warnings = if output.warnings.is_empty() {
                "(no warnings)\n".to_string()
            } else {
                output.warnings.to_string()
            };
            insta::assert_snapshot!("warnings", warnings);
        });
    });
}

/// Warnings never stop rendering, and an example never carries an error.
#[test]
fn examples_have_no_errors() {
    for path in examples() {
        let source = std::fs::read_to_string(&path).unwrap();
        let diagnostics = rmqgen::diagnose(&source);
        assert!(
            !diagnostics.has_errors(),
            "{}:\n{diagnostics}",
            path.display()
        );
        let output = compile(&path);
        assert_eq!(
            output.warnings,
            diagnostics,
            "{}: compile() and diagnose() disagree",
            path.display()
        );
    }
}

/// Same input, same bytes: every example compiled twice (and once more on
/// another thread) gives identical bundles.
#[test]
fn rendering_is_deterministic() {
    for path in examples() {
        let source = std::fs::read_to_string(&path).unwrap();
        let first = rmqgen::compile(&source).unwrap();
        let second = rmqgen::compile(&source).unwrap();
        let third = std::thread::spawn(move || rmqgen::compile(&source).unwrap())
            .join()
            .unwrap();
        for other in [&second, &third] {
            let a: Vec<_> = first.bundle.iter().map(|(p, a)| (p, &a.bytes)).collect();
            let b: Vec<_> = other.bundle.iter().map(|(p, a)| (p, &a.bytes)).collect();
            assert_eq!(a, b, "{}: bundles differ", path.display());
            assert_eq!(first.bundle, other.bundle, "{}", path.display());
            assert_eq!(first.warnings, other.warnings, "{}", path.display());
        }
    }
}

/// Every artifact is text that line-oriented tools read without surprises:
/// UTF-8, LF line endings, one final newline, no trailing white space, no
/// tabs, and a shebang exactly on the executable files.
#[test]
fn artifacts_are_clean_text() {
    for path in examples() {
        let output = compile(&path);
        for (name, artifact) in output.bundle.iter() {
            let where_ = format!("{}: {name}", path.display());
            let text = std::str::from_utf8(&artifact.bytes).expect(&where_);
            assert!(text.ends_with('\n'), "{where_}: no final newline");
            assert!(!text.ends_with("\n\n"), "{where_}: blank line at the end");
            assert!(!text.contains('\r'), "{where_}: CR in output");
            for (i, line) in text.lines().enumerate() {
                assert_eq!(
                    line.trim_end(),
                    line,
                    "{where_}:{}: trailing white space",
                    i + 1
                );
                assert!(!line.contains('\t'), "{where_}:{}: tab", i + 1);
            }
            let executable = artifact.mode & 0o111 != 0;
            assert_eq!(
                executable,
                text.starts_with("#!"),
                "{where_}: mode {:04o} does not match the shebang",
                artifact.mode
            );
        }
    }
}

/// Every snapshot file in `snapshots/` belongs to a live test (an artifact
/// or list of a current example, or the diagnostics of a current fixture),
/// and no unreviewed `.snap.new` / `.pending-snap` file is left behind.
#[test]
fn no_orphaned_or_pending_snapshots() {
    let mut expected = BTreeSet::new();
    for path in examples() {
        let example = stem(&path);
        let output = compile(&path);
        for (p, _) in output.bundle.iter() {
            expected.insert(format!("{}@{example}.snap", snapshot_name(p)));
        }
        expected.insert(format!("artifacts@{example}.snap"));
        expected.insert(format!("warnings@{example}.snap"));
    }
    // tests/changes.rs: each spec pair's plan, as text and as JSON.
    let changes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/changes");
    for entry in std::fs::read_dir(&changes).expect("tests/changes exists") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        expected.insert(format!("plan@{name}.snap"));
        expected.insert(format!("plan-json@{name}.snap"));
        // tests/rollout.rs: the rollout of each pair it carries out.
        let spec = |f: &str| {
            rmqgen::parse(&std::fs::read_to_string(changes.join(&name).join(f)).unwrap()).unwrap()
        };
        if rmqgen::rollout(&spec("old.json"), &spec("new.json")).is_ok() {
            expected.insert(format!("rollout@{name}.snap"));
        }
    }
    // tests/bluegreen.rs: the migration scripts and the definitions transform.
    expected.extend(crate::bluegreen::snapshot_names());
    for dir in ["tests/invalid", "tests/warnings"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for entry in std::fs::read_dir(&dir).expect("fixture directory exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                expected.insert(format!("diagnostics@{}.snap", stem(&path)));
            }
        }
    }

    let mut problems = Vec::new();
    for entry in std::fs::read_dir(SNAPSHOT_DIR).expect("snapshots/ exists") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            problems.push(format!(
                "{name}: unreviewed snapshot (run `cargo insta review`)"
            ));
        } else if name.ends_with(".snap") && !expected.contains(&name) {
            problems.push(format!("{name}: no test produces it any more; delete it"));
        }
    }
    assert!(problems.is_empty(), "snapshots/:\n{}", problems.join("\n"));
}
