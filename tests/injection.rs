//! Injection-proof rendering, property-based.
//!
//! Every free-text value of a spec (host and cluster names, domain, vhosts,
//! users, the policy, permission regexes, the stats page, the interface,
//! secret file paths and variable names, libvirt and Proxmox settings, SSH
//! keys, `auth_pass`; plugins, the version and addresses too, which are
//! only refused or parsed) is set to generated hostile text: line
//! breaks, quotes, backslashes, `${`, `%{`, `#`, `;`, braces, YAML
//! indicators, NUL, U+2028/2029, very long strings. Each spec is either
//!
//! - refused by validation, with an error at the field that carries a
//!   code, a message, a hint and a source location (never a panic, never
//!   an internal error), or
//! - rendered so that every artifact still parses with its real parser and
//!   the value stays data. The check compares the render with a baseline
//!   render of the same field set to a benign marker: wherever the marker
//!   was data, the hostile value is the same data.
//!   - JSON (serde_json), Terraform (hcl-rs), Nix (rnix), the cloud-init
//!     user-data (hcl-rs's template evaluation standing in for
//!     `templatefile()`, then serde_norway): where a string held the
//!     marker, a string holds the value; the user-data writes exactly the
//!     files `host_files` lists; a NixOS host file reads back as exactly the
//!     values `host_module` holds; no new Nix interpolation appears.
//!   - Shell scripts, the rollout (`render --from`) of an added broker
//!     among them: the token stream (words as the shell reads them,
//!     operators, comments, live `$`/backquote expansions) is the
//!     baseline's with the marker replaced by the value.
//!   - Line-oriented configuration (HAProxy, keepalived, rabbitmq.conf,
//!     /etc/hosts, systemd, sysctl, sysusers): the same lines; a line that
//!     differs is the baseline line with the marker replaced, and outside a
//!     comment the value has no character that line's syntax treats
//!     specially.
//!
//! `PROPTEST_CASES` raises the number of cases (default 256 per property).
//! The worst cases found while writing this are kept below as plain tests
//! (`corpus_*`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use rmqgen::testing::cloud_init::{host_files, Content};
use serde_json::{json, Value};

use crate::common::readers;

// ---------------------------------------------------------------------------
// The spec and its free-text fields
// ---------------------------------------------------------------------------

/// How the spec is provisioned and where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    CloudInitLibvirt,
    CloudInitProxmox,
    Nixos,
}

const VARIANTS: [Variant; 3] = [
    Variant::CloudInitLibvirt,
    Variant::CloudInitProxmox,
    Variant::Nixos,
];

/// One free-text value: the pointers that carry it (a vhost name is also
/// the vhost of a permission), a benign marker that validates, and a
/// prefix the value needs to get past the first check (an SSH key starts
/// with its type).
#[derive(Debug)]
struct Field {
    pointers: &'static [&'static str],
    marker: Option<&'static str>,
    prefix: &'static str,
}

const fn field(pointers: &'static [&'static str], marker: &'static str) -> Field {
    Field {
        pointers,
        marker: Some(marker),
        prefix: "",
    }
}

const MARKER: &str = "mzqx";

const FIELDS: &[Field] = &[
    field(&["/name"], MARKER),
    field(&["/domain"], MARKER),
    field(&["/network/interface"], MARKER),
    field(&["/brokers/2/name"], MARKER),
    field(&["/load_balancers/1/name"], MARKER),
    field(
        &[
            "/rabbitmq/vhosts/1",
            "/rabbitmq/users/0/permissions/0/vhost",
        ],
        MARKER,
    ),
    field(&["/rabbitmq/users/0/name"], MARKER),
    field(&["/rabbitmq/queue_ha/policy_name"], MARKER),
    field(&["/rabbitmq/queue_ha/pattern"], MARKER),
    field(&["/rabbitmq/users/0/permissions/0/configure"], MARKER),
    field(&["/rabbitmq/users/0/permissions/0/write"], MARKER),
    field(&["/rabbitmq/users/0/permissions/0/read"], MARKER),
    Field {
        pointers: &["/haproxy/stats/uri"],
        marker: Some("/mzqx"),
        prefix: "/",
    },
    field(&["/haproxy/stats/user"], MARKER),
    field(&["/rabbitmq/erlang_cookie/path"], MARKER),
    field(&["/rabbitmq/users/1/password/path"], MARKER),
    field(&["/rabbitmq/users/0/password/name"], MARKER),
    field(&["/haproxy/stats/password/name"], MARKER),
    field(&["/target/libvirt/uri"], MARKER),
    field(&["/target/libvirt/pool"], MARKER),
    field(&["/target/libvirt/bridge"], MARKER),
    field(&["/target/proxmox/node"], MARKER),
    field(&["/target/proxmox/bridge"], MARKER),
    field(&["/target/proxmox/datastore"], MARKER),
    field(&["/target/proxmox/snippets_datastore"], MARKER),
    Field {
        pointers: &["/ssh_authorized_keys/0"],
        marker: Some("ssh-ed25519 mzqx"),
        prefix: "ssh-ed25519 ",
    },
    field(&["/keepalived/auth_pass/name"], MARKER),
    Field {
        pointers: &["/rabbitmq/install/url"],
        marker: Some("http://mzqx"),
        prefix: "http://",
    },
    Field {
        pointers: &["/rabbitmq/install/keyring"],
        marker: Some("/mzqx"),
        prefix: "/",
    },
    field(&["/rabbitmq/install/suite"], MARKER),
    field(&["/rabbitmq/install/component"], MARKER),
    Field {
        pointers: &["/apt/proxy"],
        marker: Some("http://mzqx"),
        prefix: "http://",
    },
    // Values that are not free text, or are sorted (so a marker says
    // nothing about where another value lands): only refused or parsed.
    Field {
        pointers: &["/rabbitmq/plugins/1"],
        marker: None,
        prefix: "rabbitmq_",
    },
    Field {
        pointers: &["/rabbitmq/version"],
        marker: None,
        prefix: "",
    },
    Field {
        pointers: &["/vip"],
        marker: None,
        prefix: "",
    },
    Field {
        pointers: &["/network/cidr"],
        marker: None,
        prefix: "",
    },
    Field {
        pointers: &["/network/dns/0"],
        marker: None,
        prefix: "",
    },
];

/// The reference spec with every free-text field set (each secret source
/// kind used) and the variant's provisioning and provider.
fn base(variant: Variant) -> Value {
    let mut doc: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
    let changes = [
        ("/domain", json!("mq.example.internal")),
        ("/rabbitmq/version", json!("4.2")),
        // A mirror carries any series, so every version stays installable
        // and the mirror's and the proxy's text reaches apt's files.
        ("/os", json!("debian-13")),
        (
            "/rabbitmq/install",
            json!({ "from": "mirror", "url": "http://apt.example.internal/rabbitmq",
                    "keyring": "/usr/share/keyrings/example.gpg", "suite": "trixie", "component": "main" }),
        ),
        ("/apt", json!({ "proxy": "http://10.0.0.1:3142" })),
        ("/rabbitmq/queue_ha", json!({ "mode": "quorum", "policy_name": "quorum-all", "pattern": "^" })),
        ("/rabbitmq/vhosts", json!(["/", "orders"])),
        ("/rabbitmq/erlang_cookie", json!({ "from": "file", "path": "secrets/erlang-cookie" })),
        ("/rabbitmq/plugins", json!(["rabbitmq_management", "rabbitmq_prometheus"])),
        (
            "/rabbitmq/users",
            json!([
                {
                    "name": "app",
                    "password": { "from": "variable", "name": "app_password" },
                    "tags": ["management"],
                    "permissions": [{ "vhost": "orders", "configure": "^app\\.", "write": ".*", "read": ".*" }]
                },
                { "name": "ops", "password": { "from": "file", "path": "secrets/ops-password" } },
                { "name": "metrics", "password": { "from": "terraform-random" }, "tags": ["monitoring"] }
            ]),
        ),
        (
            "/haproxy/stats",
            json!({ "port": 8100, "uri": "/rabbitmq-stats", "user": "admin",
                    "password": { "from": "variable", "name": "stats_password" } }),
        ),
        (
            "/keepalived",
            json!({ "virtual_router_id": 74, "vrrp_version": 2, "advert_int_ms": 1000,
                    "auth_pass": { "from": "variable", "name": "vrrp_pw" } }),
        ),
        (
            "/ssh_authorized_keys",
            json!(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMq3Kt6t7YRZlHzrxgsTQ0zwYQm2PZ0tQGcGkCXrbT0v ops@example"]),
        ),
        (
            "/target",
            json!({
                "provider": if variant == Variant::CloudInitProxmox { "proxmox" } else { "libvirt" },
                "libvirt": { "uri": "qemu:///system", "pool": "default", "bridge": "br0" },
                "proxmox": { "node": "pve", "bridge": "vmbr0", "datastore": "local-lvm", "snippets_datastore": "local" }
            }),
        ),
        (
            "/provisioning",
            json!(if variant == Variant::Nixos { "nixos" } else { "cloud-init" }),
        ),
    ];
    for (pointer, value) in changes {
        set(&mut doc, pointer, value);
    }
    doc
}

fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"))
    {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        other => panic!("{parent} is {other}"),
    }
}

fn spec_with(field: &Field, value: &str, variant: Variant) -> String {
    let mut doc = base(variant);
    for p in field.pointers {
        set(&mut doc, p, json!(value));
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

// ---------------------------------------------------------------------------
// Reading artifacts
// ---------------------------------------------------------------------------

/// What an artifact says, read with its format's parser.
#[derive(Debug, Clone)]
enum Facts {
    /// String data (JSON, HCL, YAML outside file contents, Nix), the
    /// number of Nix interpolations, and whether every value was already
    /// checked to read back exactly (NixOS host files).
    Strings {
        strings: Vec<String>,
        interpolations: usize,
        exact: bool,
    },
    /// Shell tokens.
    Shell(Vec<String>),
    /// Lines of a line-oriented file.
    Lines(Vec<String>),
}

/// Marks a `$` or backquote the shell expands (outside single quotes).
const ACTIVE: char = '\u{E000}';

/// Splits a POSIX shell script into tokens: words as the shell reads them
/// (quotes removed, escapes applied, each live `$`/backquote marked with
/// [`ACTIVE`]), the operators `; & | < > ( )` and newlines, and comments.
fn shell_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let flush = |tokens: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            tokens.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => {
                            word.push_str("<unterminated '>");
                            break;
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek() {
                            Some(&n) if "$`\"\\\n".contains(n) => {
                                word.push(n);
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some(c @ ('$' | '`')) => {
                            word.push(ACTIVE);
                            word.push(c);
                        }
                        Some(c) => word.push(c),
                        None => {
                            word.push_str("<unterminated \">");
                            break;
                        }
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => word.push(n),
                }
            }
            '#' if !in_word => {
                let mut comment = String::from("#");
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    comment.push(n);
                    chars.next();
                }
                tokens.push(comment);
            }
            ' ' | '\t' => flush(&mut tokens, &mut word, &mut in_word),
            '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                flush(&mut tokens, &mut word, &mut in_word);
                tokens.push(c.to_string());
            }
            '$' | '`' => {
                in_word = true;
                word.push(ACTIVE);
                word.push(c);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut tokens, &mut word, &mut in_word);
    tokens
}

fn json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                json_strings(v, out);
            }
        }
        _ => {}
    }
}

/// Values that stand for the secrets in the simulated `templatefile`.
fn secret_vars(plan: &rmqgen::Plan) -> BTreeMap<String, String> {
    plan.secrets
        .iter()
        .map(|s| (s.tf_name.clone(), format!("secret-of-{}", s.tf_name)))
        .collect()
}

/// Renders a user-data template as Terraform would, parses the YAML, checks
/// that it writes exactly the files `host_files` lists, and returns the
/// strings outside the files' contents.
fn read_user_data(out: &rmqgen::Output, path: &str, text: &str) -> Result<Vec<String>, String> {
    let name = path
        .strip_prefix("cloud-init/")
        .and_then(|p| p.strip_suffix(".yaml.tftpl"))
        .ok_or("not a user-data path")?;
    let host = out.plan.host(name).ok_or("no such host")?;
    let vars = secret_vars(&out.plan);
    let rendered = readers::templatefile(text, &vars)?;
    let doc = readers::yaml(&rendered).map_err(|e| format!("YAML: {e}"))?;
    let expected = host_files(&out.plan, &out.roles, host);
    let written = doc["write_files"].as_array().cloned().unwrap_or_default();
    if written.len() != expected.len() {
        return Err(format!(
            "write_files has {} entries, host_files {}",
            written.len(),
            expected.len()
        ));
    }
    for (w, e) in written.iter().zip(&expected) {
        let content = w["content"].as_str().ok_or("no content")?;
        let want = match &e.content {
            Content::Text(t) => t.clone(),
            Content::Secret {
                template_var,
                env_var,
                ..
            } => {
                let value = &vars[template_var];
                let decoded = String::from_utf8(readers::base64_decode(content))
                    .map_err(|e| e.to_string())?;
                let want = match env_var {
                    Some(var) => format!("{var}={value}\n"),
                    None => value.clone(),
                };
                if decoded != want {
                    return Err(format!("{}: secret {decoded:?} != {want:?}", e.path));
                }
                continue;
            }
        };
        if w["path"] != e.path.as_str() || content != want {
            return Err(format!("{}: the file does not read back", e.path));
        }
    }
    let mut strings = Vec::new();
    let mut rest = doc.clone();
    if let Some(files) = rest.get_mut("write_files").and_then(Value::as_array_mut) {
        for f in files {
            if let Some(m) = f.as_object_mut() {
                m.remove("content");
            }
        }
    }
    json_strings(&rest, &mut strings);
    Ok(strings)
}

/// Reads a NixOS host file and checks it holds exactly the values
/// `host_module` computed (so the escaping round-trips).
fn check_nixos_host(
    out: &rmqgen::Output,
    host: &rmqgen::plan::Host,
    literals: &[String],
    text: &str,
) -> Result<(), String> {
    let module = rmqgen::testing::nixos::host_module(&out.plan, &out.roles, host)
        .ok_or_else(|| format!("{} is not in the plan", host.name))?
        .to_json();
    let mut values = Vec::new();
    fn leaves(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| leaves(v, out)),
            Value::Object(m) => m.values().for_each(|v| leaves(v, out)),
            _ => {}
        }
    }
    leaves(&module, &mut values);
    let literals: BTreeSet<&str> = literals.iter().map(String::as_str).collect();
    for v in values {
        // A fixed expression of rmqgen's (`./common.nix`) is not a string
        // literal; it is written verbatim.
        let verbatim = text.contains(v.as_str()) && !v.contains('"');
        if !literals.contains(v.as_str()) && !verbatim {
            return Err(format!("the value {v:?} does not read back from the file"));
        }
    }
    Ok(())
}

/// Reads every artifact with its parser. Errors name the artifact.
fn read_bundle(out: &rmqgen::Output) -> Result<BTreeMap<String, Facts>, String> {
    let mut all = BTreeMap::new();
    for (path, artifact) in out.bundle.iter() {
        let text = artifact.text();
        let facts = if path.ends_with(".json") {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("{path}: {e}"))?;
            let mut strings = Vec::new();
            json_strings(&v, &mut strings);
            Facts::Strings {
                strings,
                interpolations: 0,
                exact: false,
            }
        } else if path.ends_with(".tf") {
            let body: hcl::Body = hcl::parse(text).map_err(|e| format!("{path}: {e}"))?;
            Facts::Strings {
                strings: readers::hcl_strings(&body),
                interpolations: 0,
                exact: false,
            }
        } else if path.ends_with(".yaml.tftpl") {
            Facts::Strings {
                strings: read_user_data(out, path, text).map_err(|e| format!("{path}: {e}"))?,
                interpolations: 0,
                exact: false,
            }
        } else if path.ends_with(".nix") {
            let n = readers::nix_strings(text).map_err(|e| format!("{path}: {e}"))?;
            // A host file's strings hold whole artifacts (a script, JSON):
            // a value inside them is escaped for those, not for Nix. What
            // counts is that each reads back exactly.
            let host = path
                .strip_prefix("nixos/")
                .and_then(|p| p.strip_suffix(".nix"))
                .and_then(|name| out.plan.host(name));
            if let Some(host) = host {
                check_nixos_host(out, host, &n.literals, text)
                    .map_err(|e| format!("{path}: {e}"))?;
            }
            Facts::Strings {
                strings: n.literals,
                interpolations: n.interpolations,
                exact: host.is_some(),
            }
        } else if path.ends_with(".sh") {
            Facts::Shell(shell_tokens(text))
        } else {
            Facts::Lines(text.split('\n').map(str::to_string).collect())
        };
        all.insert(path.to_string(), facts);
    }
    Ok(all)
}

/// Whether `value` has characters that mean something in a line of the
/// configuration file at `path` (comments, quoting, escapes, blocks,
/// keepalived's `$` parameters, systemd's `%` specifiers).
fn has_syntax(path: &str, value: &str) -> bool {
    let special = if path.ends_with("keepalived.conf") {
        "#!\"'\\{}$"
    } else if path.ends_with("haproxy.cfg") {
        "#\"'\\{}$"
    } else if path.contains(".service.d/") {
        "#;\"'\\$%"
    } else {
        "#;\"'\\{}$!`%"
    };
    value
        .chars()
        .any(|c| c.is_whitespace() || !c.is_ascii_graphic() || special.contains(c))
}

// ---------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------

/// `text` of the marker render with the marker replaced by `value`, in the
/// forms rmqgen derives from names too (`VI_RMQ_PROD` from `rmq-prod`).
fn substitute(text: &str, marker: &str, value: &str) -> String {
    let upper = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    text.replace(marker, value)
        .replace(&upper(marker), &upper(value))
}

/// The key of the rollout's facts beside the bundle's files.
const ROLLOUT: &str = "(rollout from the spec without its last broker)";

/// The rollout (`render --from`) to the spec `source` from the same spec
/// without its last broker (an add-broker change: every host's files are
/// pushed, HAProxy reloads, the new broker joins), as shell tokens. The
/// role files' contents are the same text for every file (their own
/// renderings are checked as files of the bundle), the rollout's id (a
/// hash of the script) is left out, and so are the common functions,
/// which hold no value.
fn rollout_facts(source: &str) -> Facts {
    let new = rmqgen::parse(source).expect("a spec that compiled parses");
    let mut old = new.clone();
    old.brokers.pop();
    let r = rmqgen::testing::rollout_with(&old, &new, |_| "role file\n".into())
        .unwrap_or_else(|e| panic!("no rollout of an added broker: {e}"));
    let script: String = r
        .script
        .replace(rmqgen::testing::ROLLOUT_LIB, "")
        .lines()
        .filter(|l| !l.starts_with("ROLLOUT="))
        .map(|l| format!("{l}\n"))
        .collect();
    Facts::Shell(shell_tokens(&script))
}

/// The marker render of a field, read once per (field, variant).
type Baseline = Arc<(Vec<String>, BTreeMap<String, Facts>)>;

fn baseline(index: usize, variant: Variant) -> Baseline {
    static CACHE: OnceLock<Mutex<HashMap<(usize, Variant), Baseline>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(b) = cache.lock().unwrap().get(&(index, variant)) {
        return b.clone();
    }
    let f = &FIELDS[index];
    let marker = f.marker.expect("a field with a marker");
    let source = spec_with(f, marker, variant);
    let out = rmqgen::compile(&source).unwrap_or_else(|e| {
        panic!(
            "{:?} = {marker:?} ({variant:?}) must render: {e}",
            f.pointers
        )
    });
    let mut facts = read_bundle(&out).unwrap_or_else(|e| panic!("baseline {variant:?}: {e}"));
    let mut paths: Vec<String> = out.bundle.iter().map(|(p, _)| p.to_string()).collect();
    facts.insert(ROLLOUT.into(), rollout_facts(&source));
    paths.push(ROLLOUT.into());
    let b = Arc::new((paths, facts));
    cache.lock().unwrap().insert((index, variant), b.clone());
    b
}

/// The whole property for one value of one field. Returns whether the
/// value was accepted (and its artifacts checked).
fn check(index: usize, value: &str, variant: Variant) -> bool {
    let f = &FIELDS[index];
    let what = format!("{:?} = {value:?} ({variant:?})", f.pointers);
    let source = spec_with(f, value, variant);
    let result = catch_unwind(AssertUnwindSafe(|| rmqgen::compile(&source)))
        .unwrap_or_else(|_| panic!("{what}: rmqgen::compile panicked"));
    let out = match result {
        Ok(out) => out,
        Err(rmqgen::Error::Invalid(d)) => {
            assert!(d.has_errors(), "{what}: refused without an error");
            for diag in &d {
                assert!(
                    diag.pointer.is_empty() || diag.pointer.starts_with('/'),
                    "{what}: {diag}"
                );
                assert!(
                    !diag.message.trim().is_empty(),
                    "{what}: {diag}: no message"
                );
                assert!(
                    diag.hint.as_deref().is_some_and(|h| !h.trim().is_empty()),
                    "{what}: {diag}: no hint"
                );
                assert!(diag.location.is_some(), "{what}: {diag}: no location");
            }
            let at_field = d.iter().any(|diag| {
                diag.severity == rmqgen::Severity::Error
                    && f.pointers
                        .iter()
                        .any(|p| diag.pointer == *p || diag.pointer.starts_with(&format!("{p}/")))
            });
            assert!(
                at_field,
                "{what}: refused, but no error names the field:\n{d}"
            );
            return false;
        }
        Err(e) => panic!("{what}: not a diagnostic but: {e}"),
    };

    for (path, _) in out.bundle.iter() {
        assert!(
            !path.starts_with('/') && !path.split('/').any(|s| s == ".." || s.is_empty()),
            "{what}: bundle path {path:?} escapes the output directory"
        );
    }
    let mut facts = read_bundle(&out).unwrap_or_else(|e| panic!("{what}: {e}"));
    facts.insert(
        ROLLOUT.into(),
        catch_unwind(AssertUnwindSafe(|| rollout_facts(&source)))
            .unwrap_or_else(|_| panic!("{what}: the rollout panicked")),
    );
    let Some(marker) = f.marker else {
        return true;
    };
    let base = baseline(index, variant);
    let (base_paths, base_facts) = (&base.0, &base.1);

    let expected_paths: BTreeSet<String> = base_paths
        .iter()
        .map(|p| p.replace(marker, value))
        .collect();
    let paths: BTreeSet<String> = facts.keys().cloned().collect();
    assert_eq!(paths, expected_paths, "{what}: the bundle's files differ");

    for (base_path, before) in base_facts {
        let path = base_path.replace(marker, value);
        let after = &facts[&path];
        let at = format!("{what}: {path}");
        match (before, after) {
            (
                Facts::Strings {
                    strings: b,
                    interpolations: bi,
                    ..
                },
                Facts::Strings {
                    strings: a,
                    interpolations: ai,
                    exact,
                },
            ) => {
                assert_eq!(bi, ai, "{at}: the number of Nix interpolations changed");
                if !exact && b.iter().any(|s| s.contains(marker)) {
                    assert!(
                        a.iter().any(|s| s.contains(value)),
                        "{at}: the value is no longer a string of the file"
                    );
                }
            }
            (Facts::Shell(b), Facts::Shell(a)) => {
                let expected: Vec<String> =
                    b.iter().map(|t| substitute(t, marker, value)).collect();
                if *a != expected {
                    let i = a.iter().zip(&expected).take_while(|(x, y)| x == y).count();
                    panic!(
                        "{at}: the shell reads other words: token {i} is {:?}, expected {:?}",
                        a.get(i),
                        expected.get(i)
                    );
                }
            }
            (Facts::Lines(b), Facts::Lines(a)) => {
                assert_eq!(a.len(), b.len(), "{at}: the number of lines changed");
                for (bl, al) in b.iter().zip(a) {
                    if bl == al {
                        continue;
                    }
                    assert_eq!(*al, substitute(bl, marker, value), "{at}: a line changed");
                    let trimmed = bl.trim_start();
                    let comment = trimmed.starts_with('#') || trimmed.starts_with('!');
                    if comment {
                        assert!(
                            !value.ends_with('\\') && !value.chars().any(char::is_control),
                            "{at}: {al:?}"
                        );
                    } else {
                        assert!(
                            !has_syntax(&path, value),
                            "{at}: the value reaches {al:?} with characters of the file's syntax"
                        );
                    }
                }
            }
            _ => panic!("{at}: read as another format"),
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Generated values
// ---------------------------------------------------------------------------

/// Pieces of hostile text.
const ATOMS: &[&str] = &[
    "\"",
    "'",
    "\\",
    "${",
    "%{",
    "$${",
    "%%{",
    "}",
    "{",
    "#",
    ";",
    ": ",
    "- ",
    "&",
    "*",
    "!",
    "|",
    ">",
    "`",
    "$(",
    ")",
    "''",
    "'''",
    "''${",
    "\\n",
    "\\\"",
    " ",
    "?",
    "@",
    "%",
    "=",
    ",",
    "[",
    "]",
    "~",
    "../",
    "/",
    "---",
    "...",
    "<<",
    "$",
    ".*",
    "^",
    "\\.",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\0",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{feff}",
    "\u{1b}[31m",
    "é",
    "\u{202e}",
    "\u{7f}",
];

fn piece(printable: bool) -> BoxedStrategy<String> {
    let atoms: Vec<&'static str> = ATOMS
        .iter()
        .copied()
        .filter(|a| !printable || a.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .collect();
    let mut options: Vec<(u32, BoxedStrategy<String>)> = vec![
        (
            6,
            prop::sample::select(atoms).prop_map(str::to_string).boxed(),
        ),
        (2, "[a-z0-9]{1,6}".boxed()),
        (2, "[ -~]{1,6}".boxed()),
    ];
    if !printable {
        options.push((1, any::<char>().prop_map(String::from).boxed()));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}

/// Hostile text: a few pieces, now and then repeated into a long string.
fn hostile(printable: bool) -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::collection::vec(piece(printable), 1..10).prop_map(|v| v.concat()),
        1 => (piece(printable), 64usize..5000).prop_map(|(p, n)| p.repeat(n / p.len().max(1) + 1)),
    ]
}

/// (field, value with the field's prefix half the time, variant).
fn case(printable: bool) -> impl Strategy<Value = (usize, String, Variant)> {
    (
        0..FIELDS.len(),
        any::<bool>(),
        hostile(printable),
        prop::sample::select(&VARIANTS[..]),
    )
        .prop_map(|(i, prefixed, v, variant)| {
            let value = if prefixed {
                format!("{}{v}", FIELDS[i].prefix)
            } else {
                v
            };
            (i, value, variant)
        })
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        max_shrink_iters: 2_000,
        // The failures found so far are kept next to this file,
        // tests/injection.proptest-regressions. Said explicitly: proptest's
        // default looks for a lib.rs above the source file, finds
        // tests/lib.rs and would read proptest-regressions/injection.txt.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text, control characters and Unicode included, in any field.
    #[test]
    fn hostile_values_are_refused_or_inert((index, value, variant) in case(false)) {
        let _accepted = check(index, &value, variant);
    }

    /// Printable ASCII, which most free-text fields accept: these reach the
    /// artifacts, so this is where escaping is tested.
    #[test]
    fn printable_hostile_values_stay_data((index, value, variant) in case(true)) {
        let _accepted = check(index, &value, variant);
    }
}

// ---------------------------------------------------------------------------
// Corpus: the worst cases, in every field
// ---------------------------------------------------------------------------

const WORST: &[&str] = &[
    "x\nINJECTED 1",
    "x\r\nINJECTED",
    "x\u{2028}INJECTED",
    "x\u{2029}y",
    "x\0y",
    "\"; rm -rf / #",
    "'; rm -rf / #",
    "'\\''",
    "a\\",
    "${file(\"/etc/shadow\")}",
    "%{ if true }x%{ endif }",
    "$${x}",
    "%%{x}",
    "$$${x}",
    "''${x}",
    "'''",
    "$(id)`id`",
    "}\n}\nglobal\n",
    "a: b",
    "- a",
    "&a *a !!str |",
    "# not a comment",
    "a#b;c",
    "\\\"\\n",
    "/../../etc/passwd",
    "é",
];

/// Every worst case in every field. The free-text fields (the policy's
/// pattern, permission regexes, secret file paths, the target's settings,
/// SSH keys) accept most of them, so the artifacts' checks do run.
fn corpus(variants: &[Variant]) {
    let long = "x".repeat(5000);
    let long_quotes = "'\"${".repeat(600);
    let mut accepted = BTreeSet::new();
    let values = WORST
        .iter()
        .copied()
        .chain([long.as_str(), long_quotes.as_str()]);
    for value in values {
        for (index, field) in FIELDS.iter().enumerate() {
            for &variant in variants {
                if check(index, value, variant) {
                    accepted.insert(field.pointers[0]);
                }
                let prefixed = format!("{}{value}", field.prefix);
                if prefixed != value && check(index, &prefixed, variant) {
                    accepted.insert(field.pointers[0]);
                }
            }
        }
    }
    for pointer in [
        "/rabbitmq/queue_ha/pattern",
        "/rabbitmq/users/0/permissions/0/write",
        "/rabbitmq/erlang_cookie/path",
        "/target/libvirt/uri",
        "/ssh_authorized_keys/0",
    ] {
        assert!(
            accepted.contains(pointer),
            "no worst case reached the artifacts through {pointer}"
        );
    }
}

#[test]
fn corpus_cloud_init_libvirt() {
    corpus(&[Variant::CloudInitLibvirt]);
}

#[test]
fn corpus_cloud_init_proxmox() {
    corpus(&[Variant::CloudInitProxmox]);
}

#[test]
fn corpus_nixos() {
    corpus(&[Variant::Nixos]);
}

/// Regression (found by these tests, now fixed): `auth_pass` accepted `$`,
/// which starts keepalived's parameter substitution: `$_RANDOM` (8
/// characters) would be replaced by a different random number on each
/// load balancer, whose adverts would then fail authentication on the
/// others. Fix, twice over: `auth_pass` is now a secret source, so no
/// inline value is accepted at all, and a Terraform variable that supplies
/// it refuses `$` (and anything keepalived reads as syntax) at plan time.
#[test]
fn regression_auth_pass_cannot_substitute_parameters() {
    let index = FIELDS
        .iter()
        .position(|f| f.pointers == ["/keepalived/auth_pass/name"])
        .unwrap();
    let spec = spec_with(&FIELDS[index], "vrrp_pw", Variant::CloudInitLibvirt);
    for value in ["$_RANDOM", "$x", "a$b"] {
        let mut inline: serde_json::Value = serde_json::from_str(&spec).unwrap();
        inline["keepalived"]["auth_pass"] = serde_json::Value::from(value);
        let d = rmqgen::diagnose(&inline.to_string());
        assert!(
            d.iter()
                .any(|d| d.code == rmqgen::Code::InlineSecret
                    && d.pointer == "/keepalived/auth_pass"),
            "{value}: {d}"
        );
    }
    let out = rmqgen::compile(&spec).expect("compiles");
    let vars = out
        .bundle
        .get("terraform/variables.tf")
        .expect("variables.tf");
    let text = vars.text();
    let block = &text[text.find("variable \"vrrp_pw\"").expect("the variable")..];
    let block = &block[..block.find("\n}\n").expect("its end")];
    assert!(block.contains("sensitive"), "{block}");
    assert!(
        block.contains(r#"can(regex("^[A-Za-z0-9._+:@%/=,-]{1,8}$", var.vrrp_pw))"#),
        "{block}"
    );
}

/// The checks themselves: a value that escapes its quoting is caught.
#[test]
fn the_shell_reader_sees_injections() {
    let quoted = shell_tokens("add_user 'a'\\''b' # c");
    assert_eq!(quoted, ["add_user", "a'b", "# c"]);
    let live = shell_tokens("log \"x $(id)\"; echo 'x $(id)'");
    assert_eq!(live, ["log", "x \u{E000}$(id)", ";", "echo", "x $(id)"]);
    // A value pasted unquoted splits into words the marker's did not.
    let base = shell_tokens("add_user mzqx");
    let hostile = shell_tokens("add_user a b");
    let expected: Vec<String> = base.iter().map(|t| t.replace("mzqx", "a b")).collect();
    assert_ne!(hostile, expected);
    assert!(has_syntax("x.conf", "a b") && has_syntax("x.conf", "a#b"));
    assert!(!has_syntax("x.conf", "rabbitmq-1"));
    assert!(has_syntax("keepalived/lb/keepalived.conf", "$_RANDOM"));
}
