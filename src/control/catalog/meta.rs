//! The values the catalog keeps beside its tables, in `catalog_meta`: the
//! data dir's set-URL signing key and the public URL `serve` answers on.

use rusqlite::{Connection, OptionalExtension};

const KEY_META: &str = "set_url_key";
const PUBLIC_URL_META: &str = "public_url";

/// The set-URL signing key of this data dir, made on first use.
pub fn signing_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    let key = get_or_insert(conn, KEY_META, &hex::encode(fresh))?;
    hex::decode(key).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

/// Records the base URL `serve` answers on, for the admin CLI's tasks.
pub fn record_public_url(conn: &Connection, url: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO catalog_meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (PUBLIC_URL_META, url),
    )
    .map(|_| ())
}

/// The base URL the last `serve` recorded.
pub fn recorded_public_url(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM catalog_meta WHERE key = ?1",
        [PUBLIC_URL_META],
        |r| r.get(0),
    )
    .optional()
}

/// Stores `value` under `key` unless a value is there, and returns the one
/// that is kept (so two processes racing agree on one).
fn get_or_insert(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<String> {
    conn.execute(
        "INSERT OR IGNORE INTO catalog_meta (key, value) VALUES (?1, ?2)",
        (key, value),
    )?;
    conn.query_row(
        "SELECT value FROM catalog_meta WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::store;

    #[test]
    fn the_signing_key_is_made_once_and_the_public_url_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = store::open(dir.path()).unwrap();
        store
            .call_now(|c| {
                let key = signing_key(c)?;
                assert_eq!(key.len(), 32);
                assert_eq!(signing_key(c)?, key);
                assert_eq!(recorded_public_url(c)?, None);
                record_public_url(c, "http://a:1")?;
                record_public_url(c, "http://b:2")?;
                assert_eq!(recorded_public_url(c)?.as_deref(), Some("http://b:2"));
                Ok(())
            })
            .unwrap();
    }
}
