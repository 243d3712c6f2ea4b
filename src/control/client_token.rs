//! Idempotent creation: a call repeated with the same `ClientToken` is
//! answered with the row the first one made.

use rusqlite::{Connection, OptionalExtension};

/// The id of the row of `table` made with `client_token`, if any.
pub fn id_by_client_token(
    conn: &Connection,
    table: &'static str,
    client_token: Option<&str>,
) -> rusqlite::Result<Option<i64>> {
    let Some(token) = client_token else {
        return Ok(None);
    };
    conn.query_row(
        &format!("SELECT id FROM {table} WHERE client_token = ?1"),
        [token],
        |r| r.get(0),
    )
    .optional()
}
