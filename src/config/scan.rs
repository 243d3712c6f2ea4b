//! Reads the file's value tree into a typed config while collecting every
//! key serde refuses, not only the first: serde stops at one error, so each
//! refused key (unknown, or a value of the wrong type) is noted, taken out
//! of the tree, and the tree is read again. Each round removes a key, so the
//! rounds end; a key that is missing, or required and refused, ends them
//! early, since nothing can stand in for it.

use config::{ConfigError, Value, ValueKind};
use serde::de::DeserializeOwned;

/// Deserializes `root`. `Ok` holds the config read without the refused
/// keys, and one problem per refused key (`key: what is wrong`, sorted by
/// key); `Err` holds every problem found when no config could be built.
pub(super) fn deserialize<T: DeserializeOwned>(
    mut root: Value,
) -> Result<(T, Vec<String>), Vec<String>> {
    let mut problems = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let error = match root.clone().try_deserialize::<T>() {
            Ok(config) => {
                problems.sort();
                return Ok((config, problems));
            }
            Err(error) => error,
        };
        match Refusal::of(&error) {
            Refusal::Key { path, problem } => {
                problems.push(problem);
                if remove(&mut root, &path) {
                    removed.push(path);
                    continue;
                }
            }
            // A required key taken out above: already reported.
            Refusal::Missing(path) if removed.contains(&path) => {}
            Refusal::Missing(path) => problems.push(format!("{path}: missing")),
            Refusal::Other(problem) => problems.push(problem),
        }
        problems.sort();
        return Err(problems);
    }
}

/// What one deserialization error says.
#[derive(Debug, PartialEq)]
enum Refusal {
    /// The key at `path` (dotted, `[n]` for array items) was refused.
    Key { path: String, problem: String },
    /// A required key is absent.
    Missing(String),
    /// An error not tied to one key.
    Other(String),
}

impl Refusal {
    fn of(error: &ConfigError) -> Refusal {
        match error {
            ConfigError::NotFound(path) => Refusal::Missing(path.clone()),
            ConfigError::At {
                error: inner,
                key: parent,
                ..
            } => match (inner.as_ref(), parent) {
                (ConfigError::Message(message), parent) => {
                    Refusal::from_message(message, parent.as_deref())
                }
                (inner, Some(key)) => Refusal::key(key, &inner.to_string()),
                (inner, None) => Refusal::Other(inner.to_string()),
            },
            ConfigError::Message(message) => Refusal::from_message(message, None),
            ConfigError::Type { key: Some(key), .. } => {
                // The display ends in " for key `...`" and " in ORIGIN".
                let text = error.to_string();
                let body = text.split(" for key `").next().unwrap_or_default();
                Refusal::key(key, body)
            }
            other => Refusal::Other(other.to_string()),
        }
    }

    /// A serde message, raised by the map at `parent` (an unknown field of
    /// that map) or by the value at `parent`.
    fn from_message(message: &str, parent: Option<&str>) -> Refusal {
        if let Some(rest) = message.strip_prefix("unknown field `") {
            if let Some((field, expected)) = rest.split_once("`, ") {
                let path = match parent {
                    Some(parent) => format!("{parent}.{field}"),
                    None => field.to_string(),
                };
                let expected = expected.strip_prefix("expected ").unwrap_or(expected);
                let problem = format!("{path}: unknown key (expected {expected})");
                return Refusal::Key { path, problem };
            }
        }
        match parent {
            Some(key) => Refusal::key(key, message),
            None => Refusal::Other(message.to_string()),
        }
    }

    fn key(path: &str, what: &str) -> Refusal {
        Refusal::Key {
            path: path.to_string(),
            problem: format!("{path}: {what}"),
        }
    }
}

/// Removes the table key at `path` (`a.b[2].c`); false when the path does
/// not lead to a table key.
fn remove(root: &mut Value, path: &str) -> bool {
    let (parents, last) = path.rsplit_once('.').unwrap_or(("", path));
    if last.is_empty() || last.contains('[') {
        return false;
    }
    let mut node = root;
    for part in parents.split('.').filter(|p| !p.is_empty()) {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        node = match &mut node.kind {
            ValueKind::Table(table) => match table.get_mut(name) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let Some(index) = index
                .strip_suffix(']')
                .and_then(|i| i.parse::<usize>().ok())
            else {
                return false;
            };
            node = match &mut node.kind {
                ValueKind::Array(items) => match items.get_mut(index) {
                    Some(item) => item,
                    None => return false,
                },
                _ => return false,
            };
        }
    }
    match &mut node.kind {
        ValueKind::Table(table) => table.remove(last).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Value {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .unwrap()
            .cache
    }

    #[test]
    fn removes_keys_in_tables_and_array_items() {
        let mut root = tree("a = 1\n[b]\nc = 2\n[[d]]\ne = 3\n[[d]]\nf = 4\n");
        assert!(remove(&mut root, "a"));
        assert!(remove(&mut root, "b.c"));
        assert!(remove(&mut root, "d[1].f"));
        assert!(!remove(&mut root, "d[1].f"), "already gone");
        assert!(!remove(&mut root, "d[5].e"));
        assert!(!remove(&mut root, "d[0]"), "array items stay");
        assert!(!remove(&mut root, "nope.x"));
        let left: serde_json::Value = root.try_deserialize().unwrap();
        assert_eq!(left, serde_json::json!({"b": {}, "d": [{"e": 3}, {}]}));
    }

    #[test]
    fn an_unknown_field_message_becomes_its_dotted_key() {
        let refusal = Refusal::from_message(
            "unknown field `hots`, expected `type` or `host`",
            Some("databases[0]"),
        );
        assert_eq!(
            refusal,
            Refusal::Key {
                path: "databases[0].hots".into(),
                problem: "databases[0].hots: unknown key (expected `type` or `host`)".into(),
            }
        );
    }
}
