//! What the areas share: the example specs, readers of the artifacts, a
//! scratch directory; and here, readers for the line-oriented artifacts,
//! used by the tests that compare the NixOS path with the cloud-init path.
#![allow(dead_code)]

pub mod examples;
pub mod readers;
pub mod temp_dir;

use std::collections::BTreeMap;

/// `key = value` (or `key=value`, as nixpkgs writes it) lines of
/// rabbitmq.conf.
pub fn rabbitmq_conf(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{l}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// The directives of keepalived.conf, by name (inside blocks too), with
/// the lines of `unicast_peer { }` and `virtual_ipaddress { }` collected.
pub fn keepalived_conf(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut block: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
            continue;
        }
        if line == "}" {
            block = None;
            continue;
        }
        if let Some(name) = line.strip_suffix(" {") {
            if matches!(name, "unicast_peer" | "virtual_ipaddress" | "track_script") {
                block = Some(name.to_string());
                m.entry(name.to_string()).or_default();
            } else {
                let (k, v) = name.split_once(' ').unwrap_or((name, ""));
                m.entry(k.to_string()).or_default().push(v.to_string());
            }
            continue;
        }
        match &block {
            Some(b) => m.entry(b.clone()).or_default().push(line.to_string()),
            None => {
                let (k, v) = line.split_once(' ').unwrap_or((line, ""));
                m.entry(k.to_string()).or_default().push(v.to_string());
            }
        }
    }
    m
}

pub fn one(m: &BTreeMap<String, Vec<String>>, k: &str) -> Option<String> {
    m.get(k).map(|v| {
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0].clone()
    })
}

/// keepalived's decimal seconds as milliseconds ("0.5" -> 500).
pub fn ms(s: &str) -> u64 {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = format!("{frac:0<3}");
    whole.parse::<u64>().unwrap() * 1000 + frac[..3].parse::<u64>().unwrap()
}

/// `text` with every `/nix/store/<hash>-iproute2-<version>/bin/` made
/// `/bin/`, where Debian has iproute2's programs (`ss`; `ip` is in /sbin
/// too): the NixOS and cloud-init paths then read alike.
pub fn iproute2_unstored(text: &str) -> String {
    const STORE: &str = "/nix/store/";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(STORE) {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        match after.find("/bin/") {
            Some(j)
                if after[..j].contains("-iproute2-")
                    && !after[..j].contains(char::is_whitespace) =>
            {
                out.push_str("/bin/");
                rest = &after[j + "/bin/".len()..];
            }
            _ => {
                out.push_str(STORE);
                rest = &after[STORE.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}
