//! Blue's exported definitions, made importable on green: classic
//! mirroring gone, durable classic queues declared as quorum queues.
//!
//! The input is what `rabbitmqctl export_definitions` and the management
//! API's `GET /api/definitions` produce (the same JSON document). Only the
//! parts the migration changes are read as types; everything else (users
//! with their password hashes, vhosts, permissions, topic permissions,
//! exchanges, bindings, runtime parameters) is carried over as it is, in
//! the order it came.

use serde::Serialize;
use serde_json::{Map, Value};

/// Why a definitions document cannot be migrated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionsError {
    /// The text is not JSON.
    #[error("the definitions are not JSON: {0}")]
    Json(String),
    /// A value has the wrong shape (a JSON pointer into the document).
    #[error("{}: expected {expected}", if pointer.is_empty() { "the document" } else { pointer })]
    Shape {
        /// Where, as a JSON pointer.
        pointer: String,
        /// What was expected there.
        expected: &'static str,
    },
}

/// What the migration did to one object, or left for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// What happened.
    pub kind: NoteKind,
    /// The object's vhost (empty for a global object).
    pub vhost: String,
    /// The object's name.
    pub name: String,
    /// One line: the detail.
    pub detail: String,
}

/// The kinds of [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteKind {
    /// A policy lost its mirroring keys and keeps others.
    PolicyStripped,
    /// A policy had only mirroring keys: it is not carried over.
    PolicyDropped,
    /// A durable classic queue is declared as a quorum queue on green.
    QueueToQuorum,
    /// A queue argument quorum queues do not take, and whose loss changes
    /// nothing they do (`x-ha-*`, `x-queue-mode`, `x-queue-version`,
    /// `x-queue-master-locator`), is removed.
    ArgumentRemoved,
    /// A queue that cannot be a quorum queue (not durable, auto-delete, or
    /// with an argument quorum queues refuse) stays a classic queue on
    /// green, without mirroring. Review it.
    QueueKeptClassic,
    /// A global parameter that identifies blue (`internal_cluster_id`) is
    /// not carried to green.
    GlobalParameterDropped,
    /// A vhost's `tags` metadata, a comma-separated string in 3.x exports,
    /// is written as a list.
    VhostTagsNormalised,
}

/// The result of [`migrate_definitions`].
#[derive(Debug, Clone)]
pub struct Migrated {
    /// The definitions to import on green.
    pub definitions: Value,
    /// What changed, and what to review, in document order.
    pub notes: Vec<Note>,
}

impl Migrated {
    /// The queues imported on green, as `(vhost, name)`, in document order:
    /// the queues to drain from blue.
    pub fn queues(&self) -> Vec<(String, String)> {
        queues_of(&self.definitions)
    }

    /// Notes an operator must review before importing (queues that stay
    /// classic).
    pub fn needs_review(&self) -> impl Iterator<Item = &Note> {
        self.notes
            .iter()
            .filter(|n| n.kind == NoteKind::QueueKeptClassic)
    }
}

/// Classic mirroring's policy keys (all start with `ha-`).
fn is_mirroring_key(key: &str) -> bool {
    key.starts_with("ha-")
}

/// Queue arguments a quorum queue refuses, or that only classic queues
/// read, and whose removal leaves the queue's behaviour as a quorum queue
/// unchanged: mirroring (`x-ha-*`, also the 2.x `x-ha-policy`), lazy mode
/// (a quorum queue keeps its messages on disk anyway), the classic queue
/// index version and the master locator (quorum queues have
/// `x-queue-leader-locator`).
fn is_removable_argument(key: &str) -> bool {
    key.starts_with("x-ha-")
        || matches!(
            key,
            "x-queue-mode" | "x-queue-version" | "x-queue-master-locator"
        )
}

/// Why a durable classic queue with these arguments cannot be a quorum
/// queue without changing what it does, if it cannot.
fn blocks_quorum(arguments: &Map<String, Value>) -> Option<String> {
    if arguments.contains_key("x-max-priority") {
        return Some(
            "x-max-priority: quorum queues have two priorities, not a range; declare it as quorum by hand if that is acceptable".into(),
        );
    }
    if arguments.get("x-overflow").and_then(Value::as_str) == Some("reject-publish-dlx") {
        return Some("x-overflow reject-publish-dlx: quorum queues do not support it".into());
    }
    None
}

fn shape(pointer: String, expected: &'static str) -> DefinitionsError {
    DefinitionsError::Shape { pointer, expected }
}

/// Parses exported definitions and migrates them ([`migrate_definitions`]).
pub fn migrate_definitions_str(text: &str) -> Result<Migrated, DefinitionsError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DefinitionsError::Json(e.to_string()))?;
    migrate_definitions(&value)
}

/// Turns blue's exported definitions (RabbitMQ 3.x with classic mirroring)
/// into definitions green (quorum queues) imports:
///
/// - policies lose their `ha-*` keys; a policy left with none is dropped;
/// - queues lose their `x-ha-*` arguments and the classic-only
///   `x-queue-mode`, `x-queue-version` and `x-queue-master-locator`;
/// - durable, non-auto-delete classic queues become quorum queues
///   (`x-queue-type: quorum`, and `type` where the export has it);
/// - a queue that cannot be a quorum queue (not durable, auto-delete, or
///   with `x-max-priority` or `x-overflow: reject-publish-dlx`) stays
///   classic and is reported ([`NoteKind::QueueKeptClassic`]); exclusive
///   queues are never exported;
/// - `internal_cluster_id` (blue's identity) is not carried over;
/// - users, vhosts, permissions, exchanges, bindings and parameters are
///   carried over unchanged.
///
/// Pure and idempotent: migrating the output again changes nothing.
pub fn migrate_definitions(blue: &Value) -> Result<Migrated, DefinitionsError> {
    let Value::Object(doc) = blue else {
        return Err(shape(String::new(), "a JSON object"));
    };
    let mut notes = Vec::new();
    let mut out = Map::new();
    for (key, value) in doc {
        let value = match key.as_str() {
            "policies" => Value::Array(policies(value, &mut notes)?),
            "queues" => Value::Array(queues(value, &mut notes)?),
            "global_parameters" => Value::Array(global_parameters(value, &mut notes)?),
            "vhosts" => Value::Array(vhosts(value, &mut notes)?),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Ok(Migrated {
        definitions: Value::Object(out),
        notes,
    })
}

fn array<'a>(value: &'a Value, pointer: &str) -> Result<&'a Vec<Value>, DefinitionsError> {
    value
        .as_array()
        .ok_or_else(|| shape(pointer.to_string(), "an array"))
}

fn object(value: &Value, pointer: String) -> Result<&Map<String, Value>, DefinitionsError> {
    value.as_object().ok_or_else(|| shape(pointer, "an object"))
}

fn string_field(item: &Map<String, Value>, key: &str) -> String {
    item.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn policies(value: &Value, notes: &mut Vec<Note>) -> Result<Vec<Value>, DefinitionsError> {
    let mut out = Vec::new();
    for (i, p) in array(value, "/policies")?.iter().enumerate() {
        let at = format!("/policies/{i}");
        let mut policy = object(p, at.clone())?.clone();
        let (vhost, name) = (
            string_field(&policy, "vhost"),
            string_field(&policy, "name"),
        );
        let Some(definition) = policy.get_mut("definition") else {
            out.push(Value::Object(policy));
            continue;
        };
        let definition = definition
            .as_object_mut()
            .ok_or_else(|| shape(format!("{at}/definition"), "an object"))?;
        let removed: Vec<String> = definition
            .keys()
            .filter(|k| is_mirroring_key(k))
            .cloned()
            .collect();
        if removed.is_empty() {
            out.push(Value::Object(policy));
            continue;
        }
        definition.retain(|k, _| !is_mirroring_key(k));
        if definition.is_empty() {
            notes.push(Note {
                kind: NoteKind::PolicyDropped,
                vhost,
                name,
                detail: format!("only mirroring keys ({})", removed.join(", ")),
            });
        } else {
            let kept: Vec<String> = definition.keys().cloned().collect();
            notes.push(Note {
                kind: NoteKind::PolicyStripped,
                vhost,
                name,
                detail: format!("removed {}; kept {}", removed.join(", "), kept.join(", ")),
            });
            out.push(Value::Object(policy));
        }
    }
    Ok(out)
}

fn queues(value: &Value, notes: &mut Vec<Note>) -> Result<Vec<Value>, DefinitionsError> {
    let mut out = Vec::new();
    for (i, q) in array(value, "/queues")?.iter().enumerate() {
        let at = format!("/queues/{i}");
        let mut queue = object(q, at.clone())?.clone();
        let (vhost, name) = (string_field(&queue, "vhost"), string_field(&queue, "name"));
        let flag = |key: &str, default: bool| -> Result<bool, DefinitionsError> {
            match queue.get(key) {
                None => Ok(default),
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| shape(format!("{at}/{key}"), "a boolean")),
            }
        };
        // The export writes both; a queue without them is what
        // queue.declare defaults to.
        let durable = flag("durable", false)?;
        let auto_delete = flag("auto_delete", false)?;
        let mut arguments = match queue.get("arguments") {
            None => Map::new(),
            Some(a) => object(a, format!("{at}/arguments"))?.clone(),
        };
        let removed: Vec<String> = arguments
            .keys()
            .filter(|k| is_removable_argument(k))
            .cloned()
            .collect();
        arguments.retain(|k, _| !is_removable_argument(k));
        let declared_type = arguments
            .get("x-queue-type")
            .or_else(|| queue.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("classic")
            .to_string();
        if !removed.is_empty() {
            notes.push(Note {
                kind: NoteKind::ArgumentRemoved,
                vhost: vhost.clone(),
                name: name.clone(),
                detail: removed.join(", "),
            });
        }
        if declared_type == "classic" {
            let why_not = if !durable {
                Some("not durable: a quorum queue is always durable".to_string())
            } else if auto_delete {
                Some("auto-delete: a quorum queue cannot be auto-delete".to_string())
            } else {
                blocks_quorum(&arguments)
            };
            match why_not {
                Some(why) => notes.push(Note {
                    kind: NoteKind::QueueKeptClassic,
                    vhost,
                    name,
                    detail: why,
                }),
                None => {
                    arguments.insert("x-queue-type".into(), Value::from("quorum"));
                    if queue.contains_key("type") {
                        queue.insert("type".into(), Value::from("quorum"));
                    }
                    notes.push(Note {
                        kind: NoteKind::QueueToQuorum,
                        vhost,
                        name,
                        detail: "declared as a quorum queue".into(),
                    });
                }
            }
        }
        if queue.contains_key("arguments") || !arguments.is_empty() {
            queue.insert("arguments".into(), Value::Object(arguments));
        }
        out.push(Value::Object(queue));
    }
    Ok(out)
}

fn global_parameters(value: &Value, notes: &mut Vec<Note>) -> Result<Vec<Value>, DefinitionsError> {
    let mut out = Vec::new();
    for (i, p) in array(value, "/global_parameters")?.iter().enumerate() {
        let parameter = object(p, format!("/global_parameters/{i}"))?;
        let name = string_field(parameter, "name");
        if name == "internal_cluster_id" {
            notes.push(Note {
                kind: NoteKind::GlobalParameterDropped,
                vhost: String::new(),
                name,
                detail: "blue's identity; green keeps its own".into(),
            });
            continue;
        }
        out.push(p.clone());
    }
    Ok(out)
}

fn vhosts(value: &Value, notes: &mut Vec<Note>) -> Result<Vec<Value>, DefinitionsError> {
    let mut out = Vec::new();
    for (i, v) in array(value, "/vhosts")?.iter().enumerate() {
        let mut vhost = object(v, format!("/vhosts/{i}"))?.clone();
        let name = string_field(&vhost, "name");
        if let Some(Value::Object(metadata)) = vhost.get_mut("metadata") {
            if let Some(Value::String(tags)) = metadata.get("tags") {
                let list: Vec<Value> = tags
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(Value::from)
                    .collect();
                metadata.insert("tags".into(), Value::Array(list));
                notes.push(Note {
                    kind: NoteKind::VhostTagsNormalised,
                    vhost: name.clone(),
                    name,
                    detail: "metadata tags written as a list".into(),
                });
            }
        }
        out.push(Value::Object(vhost));
    }
    Ok(out)
}

/// `(vhost, name)` of every queue of a definitions document.
pub(crate) fn queues_of(definitions: &Value) -> Vec<(String, String)> {
    definitions
        .get("queues")
        .and_then(Value::as_array)
        .map(|qs| {
            qs.iter()
                .filter_map(Value::as_object)
                .map(|q| (string_field(q, "vhost"), string_field(q, "name")))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A real export: RabbitMQ 3.10.8 (Debian 12), `rabbitmqctl
    /// export_definitions`, pretty-printed.
    const EXPORT_3_10: &str =
        include_str!("../../tests/data/definitions/rabbitmq-3.10.8-export.json");

    fn migrated() -> Migrated {
        migrate_definitions_str(EXPORT_3_10).unwrap()
    }

    fn queue<'a>(defs: &'a Value, vhost: &str, name: &str) -> &'a Value {
        defs["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["vhost"] == vhost && q["name"] == name)
            .unwrap_or_else(|| panic!("no queue {vhost} {name}"))
    }

    fn note(m: &Migrated, vhost: &str, name: &str) -> Vec<NoteKind> {
        m.notes
            .iter()
            .filter(|n| n.vhost == vhost && n.name == name)
            .map(|n| n.kind)
            .collect()
    }

    #[test]
    fn mirroring_policy_keys_go_and_empty_policies_are_dropped() {
        let m = migrated();
        let policies = m.definitions["policies"].as_array().unwrap();
        let names: Vec<&str> = policies
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        // ha-all had only ha-mode and ha-sync-mode.
        assert_eq!(names, ["dlx", "ha-two"]);
        assert_eq!(note(&m, "/", "ha-all"), [NoteKind::PolicyDropped]);
        let ha_two = &policies[1];
        assert_eq!(ha_two["definition"], json!({ "message-ttl": 86400000 }));
        assert_eq!(ha_two["pattern"], "^invoices");
        assert_eq!(ha_two["priority"], 1);
        assert_eq!(note(&m, "billing", "ha-two"), [NoteKind::PolicyStripped]);
        // A policy without mirroring keys is left exactly as it was.
        assert_eq!(
            policies[0],
            json!({"apply-to": "all", "definition": {"dead-letter-exchange": "dlx"}, "name": "dlx", "pattern": "^payments", "priority": 0, "vhost": "billing"})
        );
        let text = m.definitions.to_string();
        for key in [
            "\"ha-mode\"",
            "\"ha-params\"",
            "\"ha-sync-mode\"",
            "\"x-ha-",
        ] {
            assert!(!text.contains(key), "{key} in {text}");
        }
    }

    #[test]
    fn durable_classic_queues_become_quorum_queues() {
        let m = migrated();
        let d = &m.definitions;
        for (vhost, name) in [
            ("/", "orders.created"),
            ("/", "orders.legacy"),
            ("/", "orders.lazy"),
            ("billing", "invoices"),
            ("billing", "payments"),
            ("billing", "dead-letters"),
        ] {
            let q = queue(d, vhost, name);
            assert_eq!(q["arguments"]["x-queue-type"], "quorum", "{vhost} {name}");
            assert_eq!(q["type"], "quorum", "{vhost} {name}");
            assert!(note(&m, vhost, name).contains(&NoteKind::QueueToQuorum));
        }
        // Other arguments stay.
        assert_eq!(
            queue(d, "billing", "invoices")["arguments"],
            json!({"x-dead-letter-exchange": "dlx", "x-queue-type": "quorum"})
        );
        // x-ha-policy (2.x), lazy mode: removed, and said so.
        assert_eq!(
            queue(d, "/", "orders.legacy")["arguments"],
            json!({"x-queue-type": "quorum"})
        );
        assert_eq!(
            queue(d, "/", "orders.lazy")["arguments"],
            json!({"x-message-ttl": 60000, "x-queue-type": "quorum"})
        );
        assert_eq!(
            note(&m, "/", "orders.lazy"),
            [NoteKind::ArgumentRemoved, NoteKind::QueueToQuorum]
        );
    }

    #[test]
    fn queues_that_cannot_be_quorum_stay_classic_and_are_reported() {
        let m = migrated();
        let d = &m.definitions;
        for (name, why) in [
            ("orders.transient", "not durable"),
            ("orders.autodel", "auto-delete"),
            ("orders.priority", "x-max-priority"),
        ] {
            let q = queue(d, "/", name);
            assert_eq!(q["type"], "classic", "{name}");
            assert_ne!(q["arguments"]["x-queue-type"], "quorum", "{name}");
            let n: Vec<&Note> = m.needs_review().filter(|n| n.name == name).collect();
            assert_eq!(n.len(), 1, "{name}");
            assert!(n[0].detail.starts_with(why), "{name}: {}", n[0].detail);
        }
        assert_eq!(m.needs_review().count(), 3);
        // Already a quorum queue: untouched, nothing to say.
        assert_eq!(
            queue(d, "/", "orders.audit"),
            &json!({"arguments": {"x-queue-type": "quorum"}, "auto_delete": false, "durable": true, "name": "orders.audit", "type": "quorum", "vhost": "/"})
        );
        assert!(note(&m, "/", "orders.audit").is_empty());
    }

    #[test]
    fn everything_else_is_carried_over_unchanged() {
        let blue: Value = serde_json::from_str(EXPORT_3_10).unwrap();
        let m = migrate_definitions(&blue).unwrap();
        for key in [
            "users",
            "permissions",
            "topic_permissions",
            "exchanges",
            "bindings",
            "parameters",
            "rabbit_version",
            "rabbitmq_version",
        ] {
            assert_eq!(m.definitions[key], blue[key], "{key}");
        }
        // Same keys, same order, same queues.
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&m.definitions), keys(&blue));
        assert_eq!(m.queues().len(), blue["queues"].as_array().unwrap().len());
        // The 3.x export's string tags become a list; the list stays.
        let vhosts = m.definitions["vhosts"].as_array().unwrap();
        assert_eq!(vhosts[0]["name"], "billing");
        assert_eq!(vhosts[0]["metadata"]["tags"], json!([]));
        assert_eq!(vhosts[1]["metadata"], blue["vhosts"][1]["metadata"]);
    }

    #[test]
    fn idempotent() {
        let once = migrated();
        let twice = migrate_definitions(&once.definitions).unwrap();
        assert_eq!(twice.definitions, once.definitions);
        // The second pass finds only the queues it cannot convert.
        assert!(twice
            .notes
            .iter()
            .all(|n| n.kind == NoteKind::QueueKeptClassic));
    }

    #[test]
    fn blues_identity_is_not_carried_over() {
        let blue = json!({
            "global_parameters": [
                {"name": "cluster_name", "value": "rmq-prod"},
                {"name": "internal_cluster_id", "value": "rabbitmq-cluster-id-x"}
            ],
            "queues": [{"name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {"x-overflow": "reject-publish-dlx"}}]
        });
        let m = migrate_definitions(&blue).unwrap();
        assert_eq!(
            m.definitions["global_parameters"],
            json!([{"name": "cluster_name", "value": "rmq-prod"}])
        );
        // No `type` in this export: none is added; it stays classic.
        assert_eq!(
            m.definitions["queues"][0],
            json!({"name": "q", "vhost": "/", "durable": true, "auto_delete": false, "arguments": {"x-overflow": "reject-publish-dlx"}})
        );
        assert_eq!(m.needs_review().count(), 1);
    }

    #[test]
    fn malformed_input_is_an_error_with_a_pointer() {
        assert!(matches!(
            migrate_definitions_str("{"),
            Err(DefinitionsError::Json(_))
        ));
        assert_eq!(
            migrate_definitions(&json!([])).unwrap_err().to_string(),
            "the document: expected a JSON object"
        );
        let bad = json!({"queues": [{"name": "q", "durable": "yes"}]});
        assert_eq!(
            migrate_definitions(&bad).unwrap_err(),
            DefinitionsError::Shape {
                pointer: "/queues/0/durable".into(),
                expected: "a boolean"
            }
        );
        let bad = json!({"policies": [{"name": "p", "definition": []}]});
        assert_eq!(
            migrate_definitions(&bad).unwrap_err().to_string(),
            "/policies/0/definition: expected an object"
        );
    }
}
