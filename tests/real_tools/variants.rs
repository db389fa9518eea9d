//! Spec variants for the RabbitMQ node: the same spec with settings a
//! single test node needs. Every change is a spec change, rendered through
//! the library like any other spec; no rendered file is ever patched.

use serde_json::{json, Value};

use super::rabbit::Ports;

/// How a variant differs from its example, for the test log.
pub struct Variant {
    /// The spec text.
    pub source: String,
    /// One line per change.
    pub changes: Vec<String>,
}

/// The example with the node's ports, rendered for RabbitMQ `series`,
/// moved to loopback and reduced to one broker named `localhost` (the test
/// node), so the node boots alone and the bootstrap's wait for the
/// brokers is met.
pub fn for_node(source: &str, ports: Ports, series: &str) -> Variant {
    let mut v: Value = serde_json::from_str(source).expect("an example is JSON");
    let mut changes = Vec::new();
    // The node has no certificates; tls.rs boots a TLS node with some.
    if v.as_object_mut().and_then(|m| m.remove("tls")).is_some() {
        changes.push("tls removed (real_tools::tls boots the TLS node)".to_string());
    }

    v["rabbitmq"]["ports"] = json!({
        "amqp": ports.amqp,
        "management": ports.management,
        "prometheus": ports.prometheus,
        "distribution": ports.distribution,
    });
    changes.push("rabbitmq.ports: unused high ports".to_string());

    // The node runs the RabbitMQ of the root filesystem of the release the
    // spec's `os` names: that release's own package. RabbitMQ rejects
    // settings it does not know, so an example for another series (one
    // installed from Team RabbitMQ's or a mirror's repository: 3.13, 4.1,
    // 4.2) is rendered for the release's own series (harness::target_of),
    // and its install source becomes `distro`, which is what gives that
    // series there (validation checks the pair against the platform
    // table). What is validated is then that rendering, not the example's
    // own series.
    let version = v["rabbitmq"]["version"].as_str().unwrap_or("").to_string();
    if version != series {
        v["rabbitmq"]["version"] = json!(series);
        changes.push(format!(
            "rabbitmq.version {version} -> {series} (the release's own series; {version}-only settings are NOT validated)"
        ));
    }
    let distro = json!({ "from": "distro" });
    let install = &mut v["rabbitmq"]["install"];
    if !install.is_null() && *install != distro {
        changes.push(format!(
            "rabbitmq.install {install} -> distro (the root filesystem's own rabbitmq-server)"
        ));
        *install = distro;
    }

    {
        v["brokers"] = json!([{ "name": "localhost", "address": "127.0.0.1" }]);
        let net = &mut v["network"];
        net["cidr"] = json!("127.0.0.0/8");
        // The gateway would have to move into 127/8 too; it plays no part
        // on a single node.
        if let Some(obj) = net.as_object_mut() {
            obj.remove("gateway");
        }
        v["vip"] = json!("127.0.0.100");
        if let Some(lbs) = v["load_balancers"].as_array_mut() {
            for (i, lb) in lbs.iter_mut().enumerate() {
                lb["address"] = json!(format!("127.0.0.{}", 21 + i));
            }
        }
        // A replica count above the broker count is invalid; on one broker
        // every count means "this broker".
        let replicas = &mut v["rabbitmq"]["queue_ha"]["replicas"];
        if replicas.is_u64() {
            *replicas = json!(1);
            changes.push("rabbitmq.queue_ha.replicas -> 1 (one broker)".to_string());
        }
        changes.push(
            "one broker `localhost` at 127.0.0.1; network 127.0.0.0/8, vip and load balancers in it"
                .to_string(),
        );
    }

    Variant {
        source: serde_json::to_string_pretty(&v).expect("JSON serialises"),
        changes,
    }
}
