//! The platform table: what each OS release and install source gives, and
//! what exists in which RabbitMQ series. One place; validation, the plan
//! and the renderers ask it instead of comparing version numbers.
//!
//! Sources (see the project's platform fact sheet): RabbitMQ's "Erlang
//! Version Requirements" matrix; `rabbit.schema`, the CLI command files and
//! the policy validators of rabbitmq-server at each series' tags; Team
//! RabbitMQ's Debian packaging (`Depends: erlang-base` ranges) and install
//! guide; packages.debian.org / packages.ubuntu.com and `apt-cache madison`
//! (2026-12-06); HAProxy's and keepalived's documentation and sources at
//! the released tags.

use std::ops::RangeInclusive;

use serde::Serialize;

use super::{Located, Millis, Version};
use crate::spec::{InstallSource, OsRelease, Provisioning};

/// A `MAJOR.MINOR.PATCH` version of a package (Erlang/OTP, HAProxy,
/// keepalived); Erlang's fourth and later parts are not needed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Triple(pub u32, pub u32, pub u32);

impl std::fmt::Display for Triple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The distribution family, as apt repositories name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Debian.
    Debian,
    /// Ubuntu.
    Ubuntu,
}

crate::spec::keyword_display!(Family);

/// What an OS release's own archive gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// The release.
    pub os: OsRelease,
    /// Human name, e.g. `Debian 12 (bookworm)`.
    pub title: &'static str,
    /// apt family.
    pub family: Family,
    /// Code name: the apt suite.
    pub codename: &'static str,
    /// The release's official cloud image (qcow2, cloud-init).
    pub image_url: &'static str,
    /// `rabbitmq-server` series of the archive (may be older than rmqgen
    /// supports).
    pub rabbitmq: Version,
    /// Its package version.
    pub rabbitmq_package: &'static str,
    /// Erlang/OTP of the archive.
    pub erlang: Triple,
    /// HAProxy of the archive.
    pub haproxy: Triple,
    /// keepalived of the archive.
    pub keepalived: Triple,
    /// Team RabbitMQ publishes an Erlang repository for it (not for
    /// trixie, whose own Erlang 27.3 fits).
    pub team_erlang_repo: bool,
    /// RabbitMQ series Team RabbitMQ's repositories can install there (with
    /// the Erlang they can pair it with).
    pub team_series: RangeInclusive<Version>,
}

const fn v(major: u32, minor: u32) -> Version {
    Version::new(major, minor)
}

/// Every release rmqgen knows, in the order the schema lists them.
pub const RELEASES: [Release; 5] = [
    Release {
        os: OsRelease::Debian12,
        title: "Debian 12 (bookworm)",
        family: Family::Debian,
        codename: "bookworm",
        image_url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
        rabbitmq: v(3, 10),
        rabbitmq_package: "3.10.8",
        erlang: Triple(25, 2, 3),
        haproxy: Triple(2, 6, 12),
        keepalived: Triple(2, 2, 7),
        team_erlang_repo: true,
        team_series: v(3, 13)..=v(4, 3),
    },
    Release {
        os: OsRelease::Debian13,
        title: "Debian 13 (trixie)",
        family: Family::Debian,
        codename: "trixie",
        image_url: "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2",
        rabbitmq: v(4, 0),
        rabbitmq_package: "4.0.5",
        erlang: Triple(27, 3, 4),
        haproxy: Triple(3, 0, 11),
        keepalived: Triple(2, 3, 3),
        team_erlang_repo: false,
        // Team's 3.13 package wants Erlang << 27: not with trixie's 27.3.
        team_series: v(4, 0)..=v(4, 3),
    },
    Release {
        os: OsRelease::DebianSid,
        title: "Debian unstable (sid)",
        family: Family::Debian,
        codename: "sid",
        image_url: "https://cloud.debian.org/images/cloud/sid/daily/latest/debian-sid-genericcloud-amd64-daily.qcow2",
        rabbitmq: v(4, 3),
        rabbitmq_package: "4.3.6",
        erlang: Triple(29, 1, 2),
        haproxy: Triple(3, 2, 26),
        keepalived: Triple(2, 3, 4),
        team_erlang_repo: false,
        // Team RabbitMQ publishes no sid repository, and its 4.2/4.3
        // packages want Erlang << 29: nothing (an empty range).
        team_series: v(4, 3)..=v(4, 2),
    },
    Release {
        os: OsRelease::Ubuntu2204,
        title: "Ubuntu 22.04 (jammy)",
        family: Family::Ubuntu,
        codename: "jammy",
        image_url: "https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img",
        rabbitmq: v(3, 9),
        rabbitmq_package: "3.9.27",
        erlang: Triple(24, 2, 1),
        haproxy: Triple(2, 4, 30),
        keepalived: Triple(2, 2, 4),
        team_erlang_repo: true,
        team_series: v(3, 13)..=v(4, 3),
    },
    Release {
        os: OsRelease::Ubuntu2404,
        title: "Ubuntu 24.04 (noble)",
        family: Family::Ubuntu,
        codename: "noble",
        image_url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
        rabbitmq: v(3, 12),
        rabbitmq_package: "3.12.1",
        erlang: Triple(25, 3, 2),
        haproxy: Triple(2, 8, 16),
        keepalived: Triple(2, 2, 8),
        team_erlang_repo: true,
        team_series: v(3, 13)..=v(4, 3),
    },
];

/// The release's row.
pub fn release(os: OsRelease) -> &'static Release {
    // RELEASES lists every variant once (checked by a test).
    RELEASES.iter().find(|r| r.os == os).unwrap_or(&RELEASES[0])
}

/// The default image family.
pub const DEFAULT_OS: OsRelease = OsRelease::Debian13;

/// Erlang/OTP a RabbitMQ series supports, from the official matrix (the
/// union over the series' patch releases; the latest patch of each series
/// is what the repositories carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErlangRange {
    /// Oldest Erlang/OTP (major, minor).
    pub min: (u32, u32),
    /// Newest Erlang/OTP major (every minor of it).
    pub max_major: u32,
}

impl ErlangRange {
    /// True when `erlang` is inside the range.
    pub fn contains(self, erlang: Triple) -> bool {
        (erlang.0, erlang.1) >= self.min && erlang.0 <= self.max_major
    }
}

impl std::fmt::Display for ErlangRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} to {}.x", self.min.0, self.min.1, self.max_major)
    }
}

/// The Erlang/OTP range of a series rmqgen supports.
pub fn erlang(series: Version) -> Option<ErlangRange> {
    let r = |min, max_major| Some(ErlangRange { min, max_major });
    match (series.major, series.minor) {
        (3, 10) => r((24, 2), 25),
        (3, 11) => r((25, 0), 25),
        (3, 12) => r((25, 0), 26),
        (3, 13) => r((26, 0), 26),
        (4, 0) | (4, 1) => r((26, 2), 27),
        // 4.2.9+ and 4.3.3+ need 27; Erlang 28 is for new clusters only.
        (4, 2) => r((27, 0), 27),
        // rabbitmq-server PR #17500 marks Erlang 29 supported from 4.3.6
        // (what Debian sid ships, with Erlang 29.1; the lab boots and fails
        // over that pair). Like 28, for new clusters: the Khepri upgrade
        // caveat of Erlang >= 28 holds for rolling upgrades.
        (4, 3) => r((27, 0), 29),
        _ => None,
    }
}

/// The Erlang major Team RabbitMQ's Erlang repository is pinned to for a
/// series: the newest the series supports (Team's Erlang repositories carry
/// 26.x and 27.x).
pub fn team_erlang_major(series: Version) -> u32 {
    erlang(series).map_or(27, |r| r.max_major.min(27))
}

/// Something rmqgen writes (or relies on) that exists only in some series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `ha-*` policy keys (classic queue mirroring): removed in 4.0, where
    /// `set_policy` and definition import reject them.
    ClassicMirroring,
    /// A vhost's default queue type: `add_vhost --default-queue-type` and
    /// `metadata.default_queue_type` in definitions. Present from 3.10.8;
    /// rmqgen asks for the whole series, so from 3.11.
    VhostDefaultQueueType,
    /// The `target-group-size` policy key and
    /// `quorum_queue.continuous_membership_reconciliation.*` (3.13).
    MembershipReconciliation,
    /// `cluster_partition_handling` takes effect: Mnesia is the metadata
    /// store. New 4.2 clusters use Khepri (whose recovery is fixed, like
    /// pause_minority) and 4.3 removed Mnesia; the key is then ignored, so
    /// rmqgen does not write it.
    PartitionHandling,
    /// `deprecated_features.permit.*` in rabbitmq.conf (3.13).
    DeprecatedFeaturePermits,
    /// `queue-leader-locator` policy key with `balanced` (3.10).
    QueueLeaderLocator,
    /// `rabbitmq-queues grow <node> all` (3.10).
    QueuesGrow,
    /// Khepri is the metadata store of a new cluster (4.2 default, 4.3
    /// required).
    KhepriDefault,
    /// Maintenance mode and the upgrade gates a rollout runs:
    /// `rabbitmq-upgrade drain`/`revive`/`await_online_quorum_plus_one`,
    /// `rabbitmq-queues check_if_node_is_quorum_critical` (3.8).
    MaintenanceMode,
    /// The gates for classic mirrored queues:
    /// `rabbitmq-upgrade await_online_synchronized_mirror` and
    /// `rabbitmq-queues check_if_node_is_mirror_sync_critical` (3.8, with
    /// mirroring; gone with it in 4.0).
    MirrorSyncGates,
    /// Peer discovery before 3.13's rework: a node with an empty database
    /// takes the discovery lock, then retries joining its peers
    /// `cluster_formation.discovery_retry_limit` times (default 10), every
    /// `discovery_retry_interval` (default 500 ms), before it starts as a
    /// blank node, and it holds the lock meanwhile. At a cold start the
    /// peers are blocked on that lock, so none can have tables: the first
    /// node spends the whole 5 s waiting for nothing (3.10.8 in the lab:
    /// "Trying to join discovered peers failed ... 9 retries left" down to
    /// 0, then "Starting as a blank standalone node"). A running peer is
    /// joined at the first attempt. Seen on 3.10.8; 3.11 and 3.12 keep
    /// the keys and, as far as rmqgen relies on it, the loop (rendering the
    /// keys where the loop differs only leaves a default changed).
    LockedJoinRetries,
    /// `prometheus.tcp.listener = none` (rabbitmq-server#8102, 3.12 and a
    /// late 3.11 patch). From then the plugin starts its plain HTTP
    /// listener even when only `prometheus.ssl.*` is set, unless told not
    /// to; before, it started none then (a real 3.10 node shows it). A
    /// late 3.11 patch has the new default but rmqgen cannot rely on the
    /// key there: its plain port stays open.
    PrometheusTcpListenerNone,
}

impl Feature {
    /// The series that have it.
    pub fn series(self) -> RangeInclusive<Version> {
        let all = Version::OLDEST..=Version::NEWEST;
        match self {
            Feature::ClassicMirroring => Version::OLDEST..=v(3, 13),
            Feature::VhostDefaultQueueType => v(3, 11)..=Version::NEWEST,
            Feature::MembershipReconciliation | Feature::DeprecatedFeaturePermits => {
                v(3, 13)..=Version::NEWEST
            }
            Feature::PartitionHandling => Version::OLDEST..=v(4, 1),
            Feature::QueueLeaderLocator | Feature::QueuesGrow | Feature::MaintenanceMode => all,
            Feature::MirrorSyncGates => Version::OLDEST..=v(3, 13),
            Feature::KhepriDefault => v(4, 2)..=Version::NEWEST,
            Feature::LockedJoinRetries => Version::OLDEST..=v(3, 12),
            Feature::PrometheusTcpListenerNone => v(3, 12)..=Version::NEWEST,
        }
    }

    /// True when `series` has it.
    pub fn in_series(self, series: Version) -> bool {
        self.series().contains(&series)
    }
}

/// Deprecated features a series denies by default: a client or setting
/// that uses one fails unless `deprecated_features.permit.<name> = true`.
/// rmqgen writes none of them (it uses `queue-leader-locator`, not
/// `queue-master-locator`, and no RAM nodes).
pub fn denied_deprecated_features(series: Version) -> &'static [&'static str] {
    if series >= v(4, 3) {
        &[
            "transient_nonexcl_queues",
            "global_qos",
            "queue_master_locator",
            "amqp_address_v1",
            "amqp_filter_set_bug",
        ]
    } else {
        &[]
    }
}

/// keepalived takes a fractional `vrrp_script` interval and timeout
/// (millisecond resolution) from 2.3.2 (commit 6f9ace3c). Older ones
/// reject `0.5` (2.2.7: "vrrp script interval '0.5' must be between 1 and
/// 4294 - ignoring", `keepalived -t` exits 5) and run the script every
/// second instead.
pub const KEEPALIVED_FRACTIONAL_SCRIPT_TIMING: Triple = Triple(2, 3, 2);

/// How the load balancers' keepalived reads the HAProxy check's
/// `vrrp_script` interval and timeout, and the interval rmqgen renders
/// there unless the spec sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScriptTiming {
    /// Fractional seconds are accepted; otherwise whole seconds only.
    pub fractional: bool,
    /// The default check interval. With `fall 2`, HAProxy's death is seen
    /// in 1-2 intervals: 500 ms keeps the VIP move on HAProxy death under
    /// 1.5 s where keepalived takes it; 1 s is the shortest elsewhere.
    pub default_interval: Millis,
}

/// The check timing of the keepalived the hosts run: the release's own
/// (cloud-init), or nixpkgs' (NixOS). The generated NixOS hosts install
/// the rendered keepalived.conf, not nixpkgs' whole-second `vrrpScripts`
/// options, and NixOS 26.05's keepalived is 2.3.x (nixpkgs moved past
/// 2.3.2 in 2025), so a fractional interval is taken there; the default
/// stays at 1 s because no NixOS host is booted by the lab to prove a
/// shorter one.
pub fn script_timing(os: OsRelease, provisioning: Provisioning) -> ScriptTiming {
    if provisioning == Provisioning::Nixos {
        return ScriptTiming {
            fractional: true,
            default_interval: Millis::new(1000),
        };
    }
    let rel = release(os);
    let fractional = rel.keepalived >= KEEPALIVED_FRACTIONAL_SCRIPT_TIMING;
    ScriptTiming {
        fractional,
        default_interval: Millis::new(if fractional { 500 } else { 1000 }),
    }
}

/// Why an install source cannot give a series on a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// What is wrong.
    pub message: String,
    /// What would work.
    pub hint: String,
}

/// The series `source` can install on `os`; `None` for a mirror (it
/// carries what its owner put there).
pub fn series_from(os: OsRelease, source: &InstallSource) -> Option<RangeInclusive<Version>> {
    let rel = release(os);
    match source {
        InstallSource::Distro {} => Some(rel.rabbitmq..=rel.rabbitmq),
        InstallSource::TeamRabbitmq {} => Some(rel.team_series.clone()),
        InstallSource::Mirror { .. } => None,
    }
}

/// Checks that `source` on `os` can give `series` with an Erlang the series
/// supports.
pub fn check_install(
    os: OsRelease,
    source: &InstallSource,
    series: Version,
) -> Result<(), Unavailable> {
    let rel = release(os);
    match source {
        InstallSource::Distro {} => {
            let works = erlang(series).is_some_and(|e| e.contains(rel.erlang));
            if rel.rabbitmq == series && works {
                return Ok(());
            }
            let mut ways = Vec::new();
            if let Some(other) = RELEASES.iter().find(|r| {
                r.rabbitmq == series && erlang(series).is_some_and(|e| e.contains(r.erlang))
            }) {
                ways.push(format!(
                    "os \"{}\" (its own rabbitmq-server is {series})",
                    other.os
                ));
            }
            if rel.team_series.contains(&series) {
                ways.push("rabbitmq.install {\"from\": \"team-rabbitmq\"}".to_string());
            }
            ways.push(
                "rabbitmq.install {\"from\": \"mirror\", ...} with a repository that carries it"
                    .to_string(),
            );
            Err(Unavailable {
                message: format!(
                    "{} ships rabbitmq-server {} (series {}), not {series}: the brokers would run a RabbitMQ whose configuration this spec does not match",
                    rel.title, rel.rabbitmq_package, rel.rabbitmq
                ),
                hint: format!("use {}", ways.join(", or ")),
            })
        }
        InstallSource::TeamRabbitmq {} => {
            if rel.team_series.contains(&series) {
                return Ok(());
            }
            let others: Vec<String> = RELEASES
                .iter()
                .filter(|r| r.team_series.contains(&series))
                .map(|r| format!("\"{}\"", r.os))
                .collect();
            let distro = RELEASES.iter().find(|r| r.rabbitmq == series);
            let mut hint = match others.as_slice() {
                [] => String::new(),
                o => format!("Team RabbitMQ packages {series} for os {}", o.join(", ")),
            };
            if let Some(d) = distro {
                if !hint.is_empty() {
                    hint.push_str("; ");
                }
                hint.push_str(&format!(
                    "os \"{}\" with {{\"from\": \"distro\"}} gives {series}",
                    d.os
                ));
            }
            if hint.is_empty() {
                hint = "use a mirror that carries it, or another series".into();
            }
            let why = if rel.team_series.is_empty() {
                "Team RabbitMQ publishes no repository for it".to_string()
            } else if series > *rel.team_series.end() {
                format!("rmqgen knows series up to {}", rel.team_series.end())
            } else if !rel.team_erlang_repo {
                let range = erlang(series).map_or(String::new(), |e| format!(" ({e})"));
                format!(
                    "there is no Team Erlang for it, and {series} cannot run on its Erlang {}{range}",
                    rel.erlang
                )
            } else {
                format!(
                    "{series} is out of community support and needs an Erlang older than Team's 26.x and 27.x"
                )
            };
            let gives = if rel.team_series.is_empty() {
                "no series".to_string()
            } else {
                format!(
                    "series {} to {}",
                    rel.team_series.start(),
                    rel.team_series.end()
                )
            };
            Err(Unavailable {
                message: format!(
                    "Team RabbitMQ's repositories give {gives} on {}, not {series}: {why}",
                    rel.title
                ),
                hint,
            })
        }
        InstallSource::Mirror { .. } => Ok(()),
    }
}

/// Team RabbitMQ's signing key (one key for the Erlang and server
/// repositories).
pub const TEAM_KEY_FINGERPRINT: &str = "0A9AF2115F4687BD29803A206B73A36E6026DFCA";
/// Where cloud-init fetches it from.
pub const TEAM_KEYSERVER: &str = "keys.openpgp.org";
/// Team RabbitMQ's repository hosts (mirrors of each other).
pub const TEAM_HOSTS: [&str; 2] = ["deb1.rabbitmq.com", "deb2.rabbitmq.com"];

/// One apt repository the brokers get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AptSource {
    /// Name of the list file under `/etc/apt/sources.list.d/` (without
    /// `.list`).
    pub name: String,
    /// The `deb` line. `$KEY_FILE` stands for the keyring cloud-init saves
    /// the fetched key to.
    pub line: String,
    /// Key to fetch (Team RabbitMQ's); `None` when the keyring is on the
    /// host already.
    pub keyid: Option<&'static str>,
}

/// An apt preferences entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AptPin {
    /// Package pattern.
    pub package: &'static str,
    /// Version pattern.
    pub version: String,
}

/// How the brokers get RabbitMQ, resolved: the repositories, pins and
/// holds the cloud-init path writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallPlan {
    /// The source as the spec gives it (default `distro`).
    pub source: Located<InstallSource>,
    /// Extra repositories (none for `distro`).
    pub sources: Vec<AptSource>,
    /// Pins that keep apt inside the series (none for `distro`: a stable
    /// release does not change series).
    pub pins: Vec<AptPin>,
    /// Packages held after installation so no upgrade moves them.
    pub hold: Vec<&'static str>,
}

/// Resolves the install source of `series` on `os`.
pub fn install_plan(os: OsRelease, source: Located<InstallSource>, series: Version) -> InstallPlan {
    let rel = release(os);
    let (family, code) = (rel.family, rel.codename);
    let series_pin = AptPin {
        package: "rabbitmq-server",
        version: format!("{series}.*"),
    };
    match &*source {
        InstallSource::Distro {} => InstallPlan {
            source,
            sources: Vec::new(),
            pins: Vec::new(),
            hold: Vec::new(),
        },
        InstallSource::TeamRabbitmq {} => {
            let mut sources = Vec::new();
            let mut pins = vec![series_pin];
            let mut repos = vec!["rabbitmq-server"];
            if rel.team_erlang_repo {
                repos.insert(0, "rabbitmq-erlang");
                pins.push(AptPin {
                    package: "erlang*",
                    version: format!("1:{}.*", team_erlang_major(series)),
                });
            }
            for repo in repos {
                for (i, host) in TEAM_HOSTS.iter().enumerate() {
                    sources.push(AptSource {
                        name: format!("rmqgen-{repo}-{}", i + 1),
                        line: format!(
                            "deb [signed-by=$KEY_FILE] https://{host}/{repo}/{family}/{code} {code} main"
                        ),
                        keyid: Some(TEAM_KEY_FINGERPRINT),
                    });
                }
            }
            InstallPlan {
                source,
                sources,
                pins,
                hold: vec!["rabbitmq-server", "erlang-base"],
            }
        }
        InstallSource::Mirror {
            url,
            keyring,
            suite,
            component,
        } => {
            let line = format!(
                "deb [signed-by={keyring}] {url} {} {}",
                suite.as_deref().unwrap_or(code),
                component.as_deref().unwrap_or("main")
            );
            InstallPlan {
                sources: vec![AptSource {
                    name: "rmqgen-rabbitmq-mirror".into(),
                    line,
                    keyid: None,
                }],
                source: source.clone(),
                pins: vec![series_pin],
                hold: vec!["rabbitmq-server", "erlang-base"],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(source: InstallSource) -> Located<InstallSource> {
        Located::fixed("/rabbitmq/install", source)
    }

    const ALL_OS: [OsRelease; 5] = [
        OsRelease::Debian12,
        OsRelease::Debian13,
        OsRelease::DebianSid,
        OsRelease::Ubuntu2204,
        OsRelease::Ubuntu2404,
    ];

    fn every_series() -> Vec<Version> {
        let mut out = Vec::new();
        for (major, minors) in [(3, 10..=13), (4, 0..=3)] {
            for minor in minors {
                out.push(v(major, minor));
            }
        }
        out
    }

    #[test]
    fn every_release_has_one_row() {
        for os in ALL_OS {
            assert_eq!(RELEASES.iter().filter(|r| r.os == os).count(), 1, "{os}");
            assert_eq!(release(os).os, os);
        }
    }

    #[test]
    fn every_supported_series_has_an_erlang_range() {
        for s in every_series() {
            assert!(erlang(s).is_some(), "{s}");
        }
        assert!(erlang(v(3, 9)).is_none());
        assert!(erlang(v(4, 4)).is_none());
    }

    #[test]
    fn distro_gives_exactly_the_archive_series_with_a_supported_erlang() {
        let distro = InstallSource::Distro {};
        let ok = |os, s| check_install(os, &distro, s).is_ok();
        assert!(ok(OsRelease::Debian12, v(3, 10)));
        assert!(ok(OsRelease::Debian13, v(4, 0)));
        assert!(ok(OsRelease::DebianSid, v(4, 3)));
        assert!(ok(OsRelease::Ubuntu2404, v(3, 12)));
        // Jammy's 3.9 is older than any series rmqgen supports.
        for s in every_series() {
            assert!(!ok(OsRelease::Ubuntu2204, s), "{s}");
        }
        assert!(!ok(OsRelease::Debian12, v(4, 1)));
        assert!(!ok(OsRelease::Debian13, v(3, 10)));
        // Every archive pair rmqgen accepts is inside the official matrix.
        for r in &RELEASES {
            if let Some(e) = erlang(r.rabbitmq) {
                assert!(e.contains(r.erlang), "{}", r.title);
            }
        }
    }

    #[test]
    fn team_rabbitmq_pairs_fit_the_erlang_matrix() {
        let team = InstallSource::TeamRabbitmq {};
        for os in ALL_OS {
            let rel = release(os);
            for s in every_series() {
                let ok = check_install(os, &team, s).is_ok();
                assert_eq!(ok, rel.team_series.contains(&s), "{os} {s}");
                if !ok {
                    continue;
                }
                let range = erlang(s).expect("a supported series");
                let erlang = if rel.team_erlang_repo {
                    Triple(team_erlang_major(s), 0, 0)
                } else {
                    rel.erlang
                };
                assert!(
                    range.min.0 <= erlang.0 && erlang.0 <= range.max_major,
                    "{os} {s}"
                );
            }
        }
        // trixie has no Team Erlang; Team's 3.13 wants Erlang << 27.
        assert!(check_install(OsRelease::Debian13, &team, v(3, 13)).is_err());
        assert_eq!(team_erlang_major(v(3, 13)), 26);
        assert_eq!(team_erlang_major(v(4, 1)), 27);
    }

    #[test]
    fn the_hint_names_what_would_work() {
        let e = check_install(OsRelease::Debian12, &InstallSource::Distro {}, v(4, 0))
            .expect_err("bookworm ships 3.10");
        assert!(e.hint.contains("\"debian-13\""), "{}", e.hint);
        assert!(e.hint.contains("team-rabbitmq"), "{}", e.hint);
        let e = check_install(
            OsRelease::Debian13,
            &InstallSource::TeamRabbitmq {},
            v(3, 13),
        )
        .expect_err("no 3.13 on trixie");
        assert!(e.hint.contains("\"debian-12\""), "{}", e.hint);
    }

    #[test]
    fn team_rabbitmq_lists_both_hosts_pins_the_series_and_holds() {
        let p = install_plan(
            OsRelease::Debian12,
            at(InstallSource::TeamRabbitmq {}),
            v(3, 13),
        );
        let lines: Vec<&str> = p.sources.iter().map(|s| s.line.as_str()).collect();
        assert_eq!(
            lines,
            [
                "deb [signed-by=$KEY_FILE] https://deb1.rabbitmq.com/rabbitmq-erlang/debian/bookworm bookworm main",
                "deb [signed-by=$KEY_FILE] https://deb2.rabbitmq.com/rabbitmq-erlang/debian/bookworm bookworm main",
                "deb [signed-by=$KEY_FILE] https://deb1.rabbitmq.com/rabbitmq-server/debian/bookworm bookworm main",
                "deb [signed-by=$KEY_FILE] https://deb2.rabbitmq.com/rabbitmq-server/debian/bookworm bookworm main",
            ]
        );
        assert_eq!(p.pins[0].version, "3.13.*");
        assert_eq!(p.pins[1].version, "1:26.*");
        // trixie: Debian's own Erlang, so no Erlang repository and no pin.
        let p = install_plan(
            OsRelease::Debian13,
            at(InstallSource::TeamRabbitmq {}),
            v(4, 1),
        );
        assert_eq!(p.sources.len(), 2);
        assert!(p.sources[0]
            .line
            .contains("/rabbitmq-server/debian/trixie trixie main"));
        assert_eq!(p.pins.len(), 1);
        assert!(p.hold.contains(&"rabbitmq-server"));
        let p = install_plan(OsRelease::Debian13, at(InstallSource::Distro {}), v(4, 0));
        assert!(p.sources.is_empty() && p.pins.is_empty() && p.hold.is_empty());
    }

    #[test]
    fn the_check_interval_follows_the_keepalived_the_hosts_run() {
        let t = |os| script_timing(os, Provisioning::CloudInit);
        // Checked with `keepalived -t` in each release's root filesystem:
        // 2.2.7 rejects `interval 0.5`, 2.3.3 and 2.3.4 accept it.
        assert!(!t(OsRelease::Debian12).fractional);
        assert!(t(OsRelease::Debian13).fractional);
        assert!(t(OsRelease::DebianSid).fractional);
        assert!(!t(OsRelease::Ubuntu2204).fractional);
        assert!(!t(OsRelease::Ubuntu2404).fractional);
        for os in ALL_OS {
            let timing = t(os);
            let ms = timing.default_interval.get();
            assert_eq!(ms, if timing.fractional { 500 } else { 1000 }, "{os}");
            assert_eq!(
                timing.fractional,
                release(os).keepalived >= KEEPALIVED_FRACTIONAL_SCRIPT_TIMING
            );
            // NixOS: nixpkgs' keepalived whatever the os; 1 s by default.
            let nixos = script_timing(os, Provisioning::Nixos);
            assert!(nixos.fractional && nixos.default_interval.whole_seconds() == Some(1));
        }
    }

    #[test]
    fn features_follow_the_series() {
        use Feature::*;
        assert!(ClassicMirroring.in_series(v(3, 13)));
        assert!(!ClassicMirroring.in_series(v(4, 0)));
        assert!(!MembershipReconciliation.in_series(v(3, 12)));
        assert!(MembershipReconciliation.in_series(v(3, 13)));
        assert!(PartitionHandling.in_series(v(4, 1)));
        assert!(!PartitionHandling.in_series(v(4, 2)));
        assert!(!PartitionHandling.in_series(v(4, 3)));
        assert!(KhepriDefault.in_series(v(4, 2)));
        assert!(LockedJoinRetries.in_series(v(3, 10)));
        assert!(!LockedJoinRetries.in_series(v(3, 13)));
        assert!(!PrometheusTcpListenerNone.in_series(v(3, 11)));
        assert!(PrometheusTcpListenerNone.in_series(v(3, 12)));
        assert!(QueueLeaderLocator.in_series(Version::OLDEST));
        assert!(denied_deprecated_features(v(4, 3)).contains(&"queue_master_locator"));
        assert!(denied_deprecated_features(v(4, 2)).is_empty());
    }
}
