//! AccessKeys and what each may do.
//!
//! A key has a role. A **user** key calls the public actions. A **gateway**
//! key calls only the gateway actions, and only for its own gateway: it is
//! bound to a gateway identifier at creation (`access-key create --gateway
//! ID`) or by its first heartbeat, and never changes gateway after that.
//! A key can be disabled (refused until enabled again), deleted, or
//! rotated: a new secret, with the old one still accepted for a grace
//! period so that the host can be updated without a gap.

use rusqlite::{Connection, OptionalExtension, Row};

/// What a key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The public actions (users, SDKs, consoles).
    User,
    /// The gateway actions of one gateway (an agent on a database host).
    Gateway,
}

impl Role {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Gateway => "gateway",
        }
    }

    fn parse(text: &str) -> Role {
        if text == "gateway" {
            Role::Gateway
        } else {
            Role::User
        }
    }
}

/// A stored AccessKey.
#[derive(Debug, Clone)]
pub struct AccessKey {
    /// The AccessKeyId.
    pub id: String,
    /// The current secret.
    pub secret: String,
    /// The secret before the last rotation, while it is still accepted.
    pub previous_secret: Option<String>,
    /// Until when the previous secret is accepted, ms since the epoch.
    pub previous_until_ms: i64,
    /// What the key may call.
    pub role: Role,
    /// The gateway identifier a gateway key is bound to, once bound.
    pub gateway: Option<String>,
    /// A disabled key is refused.
    pub disabled: bool,
    /// Creation, ms since the epoch.
    pub created_ms: i64,
}

impl AccessKey {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let role: String = row.get("role")?;
        Ok(AccessKey {
            id: row.get("id")?,
            secret: row.get("secret")?,
            previous_secret: row.get("previous_secret")?,
            previous_until_ms: row.get("previous_until_ms")?,
            role: Role::parse(&role),
            gateway: row.get("gateway")?,
            disabled: row.get("disabled")?,
            created_ms: row.get("created_ms")?,
        })
    }

    /// The secrets a signature may be made with at `now_ms`: the current
    /// one, and the previous one during its grace period.
    pub fn secrets_at(&self, now_ms: i64) -> impl Iterator<Item = &str> {
        let previous = self
            .previous_secret
            .as_deref()
            .filter(|_| now_ms < self.previous_until_ms);
        std::iter::once(self.secret.as_str()).chain(previous)
    }

    /// The key as `access-key list` prints it: never the secret.
    pub fn summary(&self, now_ms: i64) -> serde_json::Value {
        serde_json::json!({
            "AccessKeyId": self.id,
            "Role": self.role.as_str(),
            "Gateway": self.gateway,
            "Status": if self.disabled { "disabled" } else { "enabled" },
            "PreviousSecretValidUntil": (self.previous_secret.is_some() && now_ms < self.previous_until_ms)
                .then_some(self.previous_until_ms),
            "CreateTime": self.created_ms,
        })
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS access_keys (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"#;

/// Columns added to `access_keys` since the first schema; a key of an older
/// data dir becomes a user key.
const ADDED_COLUMNS: [(&str, &str); 5] = [
    ("role", "TEXT NOT NULL DEFAULT 'user'"),
    ("gateway", "TEXT"),
    ("disabled", "INTEGER NOT NULL DEFAULT 0"),
    ("previous_secret", "TEXT"),
    ("previous_until_ms", "INTEGER NOT NULL DEFAULT 0"),
];

/// Creates the table, and adds the role columns to an older one.
pub fn apply_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    for (name, definition) in ADDED_COLUMNS {
        let present = conn
            .prepare("SELECT 1 FROM pragma_table_info('access_keys') WHERE name = ?1")?
            .exists([name])?;
        if !present {
            conn.execute_batch(&format!(
                "ALTER TABLE access_keys ADD COLUMN {name} {definition}"
            ))?;
        }
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS access_keys_gateway ON access_keys(gateway)")
}

fn new_secret() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 30)
}

/// Creates a key of `role` (a gateway key may be bound at once to
/// `gateway`) and returns it.
pub fn create(
    conn: &Connection,
    role: Role,
    gateway: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<AccessKey> {
    use rand::distr::{Alphanumeric, SampleString};
    let id = format!("LTAI{}", Alphanumeric.sample_string(&mut rand::rng(), 20));
    conn.query_row(
        "INSERT INTO access_keys (id, secret, created_ms, role, gateway)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING *",
        (&id, new_secret(), now_ms, role.as_str(), gateway),
        AccessKey::from_row,
    )
}

/// A key by id.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<AccessKey>> {
    conn.query_row(
        "SELECT * FROM access_keys WHERE id = ?1",
        [id],
        AccessKey::from_row,
    )
    .optional()
}

/// Every key, oldest first.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<AccessKey>> {
    let mut stmt = conn.prepare("SELECT * FROM access_keys ORDER BY created_ms, id")?;
    let keys = stmt.query_map([], AccessKey::from_row)?;
    keys.collect()
}

/// Disables or enables a key; false when there is no such key.
pub fn set_disabled(conn: &Connection, id: &str, disabled: bool) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE access_keys SET disabled = ?2 WHERE id = ?1",
        (id, disabled),
    )?;
    Ok(changed == 1)
}

/// Deletes a key; false when there is no such key.
pub fn delete(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM access_keys WHERE id = ?1", [id])? == 1)
}

/// Gives a key a new secret; the old one stays valid until `grace_until_ms`.
/// Returns the key with its new secret, None when there is no such key.
pub fn rotate(
    conn: &Connection,
    id: &str,
    grace_until_ms: i64,
) -> rusqlite::Result<Option<AccessKey>> {
    conn.query_row(
        "UPDATE access_keys SET previous_secret = secret, previous_until_ms = ?2, secret = ?3
         WHERE id = ?1 RETURNING *",
        (id, grace_until_ms, new_secret()),
        AccessKey::from_row,
    )
    .optional()
}

/// How binding a gateway key to an identifier went.
#[derive(Debug, PartialEq, Eq)]
pub enum Binding {
    /// The key is bound to this identifier (now or before).
    Bound,
    /// The key is bound to another identifier.
    OtherGateway(String),
    /// Another key is bound to this identifier already.
    Taken,
}

/// Binds an unbound gateway key to `identifier` unless another key holds
/// that identifier; a bound key only matches its own identifier.
pub fn bind(conn: &mut Connection, key_id: &str, identifier: &str) -> rusqlite::Result<Binding> {
    let tx = conn.transaction()?;
    let bound: Option<Option<String>> = tx
        .query_row(
            "SELECT gateway FROM access_keys WHERE id = ?1",
            [key_id],
            |r| r.get(0),
        )
        .optional()?;
    let outcome = match bound.flatten() {
        Some(gateway) if gateway == identifier => Binding::Bound,
        Some(gateway) => Binding::OtherGateway(gateway),
        None => {
            let taken = tx
                .prepare_cached("SELECT 1 FROM access_keys WHERE gateway = ?1 AND id != ?2")?
                .exists((identifier, key_id))?;
            if taken {
                Binding::Taken
            } else {
                tx.execute(
                    "UPDATE access_keys SET gateway = ?2 WHERE id = ?1",
                    (key_id, identifier),
                )?;
                tracing::info!(access_key_id = %key_id, gateway = %identifier, "gateway key bound");
                Binding::Bound
            }
        }
    };
    tx.commit()?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::store;

    fn open() -> (tempfile::TempDir, store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn a_gateway_key_binds_to_its_first_identifier_only() {
        let (_dir, store) = open();
        store
            .call_now(|c| {
                let a = create(c, Role::Gateway, None, 0)?;
                let b = create(c, Role::Gateway, None, 0)?;
                assert_eq!(bind(c, &a.id, "g1")?, Binding::Bound);
                assert_eq!(bind(c, &a.id, "g1")?, Binding::Bound);
                assert_eq!(bind(c, &a.id, "g2")?, Binding::OtherGateway("g1".into()));
                assert_eq!(bind(c, &b.id, "g1")?, Binding::Taken);
                assert_eq!(bind(c, &b.id, "g2")?, Binding::Bound);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_rotated_secret_is_accepted_only_during_its_grace_period() {
        let (_dir, store) = open();
        store
            .call_now(|c| {
                let key = create(c, Role::User, None, 0)?;
                let rotated = rotate(c, &key.id, 1000)?.unwrap();
                assert_ne!(rotated.secret, key.secret);
                let at = |now| {
                    rotated
                        .secrets_at(now)
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                };
                assert_eq!(at(500), vec![rotated.secret.clone(), key.secret.clone()]);
                assert_eq!(at(1000), vec![rotated.secret.clone()]);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn keys_of_an_older_data_dir_become_user_keys() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(store::db_path(dir.path())).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO access_keys (id, secret, created_ms) VALUES ('LTAIold', 's', 1)",
                [],
            )
            .unwrap();
        }
        let store = store::open(dir.path()).unwrap();
        let key = store.call_now(|c| get(c, "LTAIold")).unwrap().unwrap();
        assert_eq!(key.role, Role::User);
        assert!(!key.disabled);
        assert_eq!(key.gateway, None);
    }
}
