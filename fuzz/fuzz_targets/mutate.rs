//! Structure-aware: the fuzzer's bytes pick an example spec and edit it
//! (replace any value with a hostile string, an extreme number, a boolean
//! or null; remove a key or an element; add a key the schema knows;
//! repeat a list element), so most inputs are well-formed JSON that
//! reaches validation, and many render. Checks as in `check.rs`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

#[path = "check.rs"]
mod check;

const EXAMPLES: &[&str] = &[
    include_str!("../../examples/five-vm.json"),
    include_str!("../../examples/five-vm-nixos.json"),
    include_str!("../../examples/quorum-4x.json"),
    include_str!("../../examples/five-brokers-three-lbs.json"),
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "a",
    "x\ny",
    "\"",
    "'",
    "\\",
    "${x}",
    "%{x}",
    "$${x}",
    "#",
    ";",
    "}",
    "{",
    ": ",
    "- ",
    "&a",
    "*a",
    "!a",
    "\0",
    "\u{2028}",
    "é",
    "all",
    "quorum",
    "classic-mirrored",
    "file",
    "variable",
    "terraform-random",
    "nixos",
    "cloud-init",
    "proxmox",
    "libvirt",
    "weight",
    "fault",
    "MASTER",
    "BACKUP",
    "multicast",
    "unicast",
    "3.8",
    "3.13",
    "4.0",
    "4.2",
    "4.3",
    "10.0.0.1",
    "192.168.247.0/24",
    "192.168.247.0/31",
    "0.0.0.0/0",
    "255.255.255.255",
    "192.168.247.160",
    "rabbitmq-1",
    "haproxy-1",
    "guest",
    "/",
    "^",
    ".*",
    "rabbitmq_management",
    "ssh-ed25519 AAAA x",
    "base_image",
];

const NUMBERS: &[i64] = &[
    -1,
    0,
    1,
    2,
    3,
    7,
    8,
    10,
    100,
    254,
    255,
    256,
    999,
    1000,
    1001,
    4369,
    5672,
    9100,
    15672,
    25672,
    35672,
    40950,
    65535,
    65536,
    255_000,
    2_147_483_647,
    4_294_967_295,
    4_294_967_296,
];

/// Every property name of the schema.
fn keys() -> &'static [String] {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::Object(p)) = m.get("properties") {
                        out.extend(p.keys().cloned());
                    }
                    m.values().for_each(|v| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let schema: Value = serde_json::from_str(&rmqgen::schema()).unwrap_or(Value::Null);
        let mut out = Vec::new();
        walk(&schema, &mut out);
        out.sort();
        out.dedup();
        out
    })
}

fn pointers(v: &Value, p: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                pointers(
                    v,
                    format!("{p}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                pointers(v, format!("{p}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(p);
}

fn value(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=7)? {
        0 => json!(*u.choose(STRINGS)?),
        1 => json!(u.arbitrary::<String>()?),
        2 => json!(*u.choose(NUMBERS)?),
        3 => json!(u.arbitrary::<i64>()?),
        4 => json!(u.arbitrary::<bool>()?),
        5 => Value::Null,
        6 => json!({}),
        _ => json!([]),
    })
}

fn mutate(doc: &mut Value, u: &mut Unstructured) -> Result<()> {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    let p = u.choose(&all)?.clone();
    let (parent, key) = match p.rsplit_once('/') {
        Some((parent, key)) => (
            parent.to_string(),
            key.replace("~1", "/").replace("~0", "~"),
        ),
        None => (String::new(), String::new()),
    };
    match u.int_in_range(0..=4)? {
        0 | 1 => {
            let v = value(u)?;
            if let Some(slot) = doc.pointer_mut(&p) {
                *slot = v;
            }
        }
        2 => match doc.pointer_mut(&parent) {
            Some(Value::Object(m)) => {
                m.remove(&key);
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = key.parse::<usize>() {
                    if i < a.len() {
                        a.remove(i);
                    }
                }
            }
            _ => {}
        },
        3 => {
            let k = u.choose(keys())?.clone();
            let v = value(u)?;
            if let Some(Value::Object(m)) = doc.pointer_mut(&p) {
                m.insert(k, v);
            }
        }
        _ => {
            if let Some(Value::Array(a)) = doc.pointer_mut(&p) {
                if let Some(first) = a.first().cloned() {
                    a.push(first);
                }
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(base) = u.choose(EXAMPLES) else {
        return;
    };
    let Ok(mut doc) = serde_json::from_str::<Value>(base) else {
        return;
    };
    let n = u.int_in_range(1..=6u8).unwrap_or(1);
    for _ in 0..n {
        if mutate(&mut doc, &mut u).is_err() {
            break;
        }
    }
    check::check(&serde_json::to_string_pretty(&doc).unwrap_or_default());
});
