//! The dynamic shovels that drain blue's queues into green's.
//!
//! One shovel per queue, declared on green (a definitions document holding
//! only `parameters`, imported with `rabbitmqctl import_definitions`): it
//! consumes blue's queue over AMQP 0-9-1 from every blue broker in turn
//! and publishes into green's queue of the same name and vhost, acking on
//! blue only once green has confirmed the message (`ack-mode:
//! on-confirm`): a message is in one queue or the other, never in neither.
//!
//! The shovels run until the migration script deletes them (`src-delete-after:
//! never`), once blue's queues are empty and no client is connected to
//! blue any more. A `queue-length` shovel would stop after moving the
//! messages its queue held when it started, and strand whatever producers
//! still on blue publish afterwards; the cut-over moves clients gradually
//! (consumers first, then producers, or all at once when the VIP moves),
//! so the drain has to last as long as blue gets messages.

use serde_json::{json, Value};

use super::definitions::{queues_of, DefinitionsError};

/// Where the shovels read from: blue's brokers, and the temporary user the
/// migration script creates on blue.
#[derive(Debug, Clone)]
pub struct ShovelSource {
    /// Blue's brokers, `(address, AMQP port)`, tried in order.
    pub brokers: Vec<(String, u16)>,
    /// The user on blue.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Declare nothing: green's queues exist (imported) and so do blue's;
    /// the shovel waits for them (`src-predeclared`, `dest-predeclared`,
    /// RabbitMQ 3.13 and later on green). Without it the shovel declares
    /// both queues as plain durable queues, which fails for a queue with
    /// arguments.
    pub predeclared: bool,
}

/// The shovel's name for a queue.
pub fn shovel_name(queue: &str) -> String {
    format!("rmqgen-blue-green {queue}")
}

/// RFC 3986 percent-encoding of everything but the unreserved characters:
/// a user, password or vhost in an AMQP URI.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The shovel parameters for every queue of green's definitions (the
/// output of [`super::migrate_definitions`]), as a definitions document,
/// and the `(vhost, shovel name)` list the migration script deletes them
/// by (one per line, tab-separated). A vhost or queue name with a tab or a
/// line break cannot be listed so and is refused.
pub fn shovel_definitions(
    green: &Value,
    source: &ShovelSource,
) -> Result<(Value, String), DefinitionsError> {
    let mut parameters = Vec::new();
    let mut list = String::new();
    for (i, (vhost, queue)) in queues_of(green).into_iter().enumerate() {
        if [&vhost, &queue]
            .iter()
            .any(|s| s.contains(['\t', '\n', '\r']))
        {
            return Err(DefinitionsError::Shape {
                pointer: format!("/queues/{i}"),
                expected: "a vhost and queue name without tabs or line breaks",
            });
        }
        let src: Vec<Value> = source
            .brokers
            .iter()
            .map(|(host, port)| {
                Value::from(format!(
                    "amqp://{}:{}@{host}:{port}/{}",
                    encode(&source.user),
                    encode(&source.password),
                    encode(&vhost)
                ))
            })
            .collect();
        let name = shovel_name(&queue);
        let mut value = json!({
            "src-protocol": "amqp091",
            "src-uri": src,
            "src-queue": queue,
            "dest-protocol": "amqp091",
            // No host: the green node the shovel runs on, in this vhost.
            "dest-uri": format!("amqp:///{}", encode(&vhost)),
            "dest-queue": queue,
            "ack-mode": "on-confirm",
            "src-delete-after": "never",
            "dest-add-forward-headers": false,
            "reconnect-delay": 5,
        });
        if source.predeclared {
            if let Some(v) = value.as_object_mut() {
                v.insert("src-predeclared".into(), Value::Bool(true));
                v.insert("dest-predeclared".into(), Value::Bool(true));
            }
        }
        list.push_str(&format!("{vhost}\t{name}\n"));
        parameters.push(json!({
            "component": "shovel",
            "vhost": vhost,
            "name": name,
            "value": value,
        }));
    }
    Ok((json!({ "parameters": parameters }), list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> ShovelSource {
        ShovelSource {
            brokers: vec![("10.0.0.1".into(), 5672), ("10.0.0.2".into(), 5672)],
            user: "rmqgen-blue-green".into(),
            password: "p@ss/w:rd".into(),
            predeclared: true,
        }
    }

    #[test]
    fn one_shovel_per_queue_from_every_blue_broker() {
        let green = json!({"queues": [
            {"name": "orders", "vhost": "/", "durable": true},
            {"name": "in voices", "vhost": "billing/eu", "durable": true}
        ]});
        let (defs, list) = shovel_definitions(&green, &source()).unwrap();
        let p = defs["parameters"].as_array().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0]["component"], "shovel");
        assert_eq!(p[0]["vhost"], "/");
        assert_eq!(p[0]["name"], "rmqgen-blue-green orders");
        let v = &p[0]["value"];
        assert_eq!(
            v["src-uri"],
            json!([
                "amqp://rmqgen-blue-green:p%40ss%2Fw%3Ard@10.0.0.1:5672/%2F",
                "amqp://rmqgen-blue-green:p%40ss%2Fw%3Ard@10.0.0.2:5672/%2F"
            ])
        );
        assert_eq!(v["dest-uri"], "amqp:///%2F");
        assert_eq!(
            (&v["src-queue"], &v["dest-queue"]),
            (&json!("orders"), &json!("orders"))
        );
        assert_eq!(v["ack-mode"], "on-confirm");
        assert_eq!(v["src-predeclared"], true);
        assert_eq!(v["dest-predeclared"], true);
        assert_eq!(p[1]["value"]["dest-uri"], "amqp:///billing%2Feu");
        assert_eq!(p[1]["value"]["dest-queue"], "in voices");
        assert_eq!(
            list,
            "/\trmqgen-blue-green orders\nbilling/eu\trmqgen-blue-green in voices\n"
        );
    }

    #[test]
    fn without_predeclared_the_keys_are_absent() {
        let green = json!({"queues": [{"name": "q", "vhost": "/"}]});
        let (defs, _) = shovel_definitions(
            &green,
            &ShovelSource {
                predeclared: false,
                ..source()
            },
        )
        .unwrap();
        let v = defs["parameters"][0]["value"].as_object().unwrap();
        assert!(!v.contains_key("src-predeclared") && !v.contains_key("dest-predeclared"));
    }

    #[test]
    fn names_that_cannot_be_listed_are_refused() {
        let green = json!({"queues": [{"name": "a\tb", "vhost": "/"}]});
        assert!(shovel_definitions(&green, &source()).is_err());
    }
}
