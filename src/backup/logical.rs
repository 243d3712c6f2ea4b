//! MySQL / MariaDB logical backups: schema and rows as SQL that `mariadb`
//! (or `mysql`) loads into an empty server.
//!
//! One consistent snapshot, read by several connections at once:
//! 1. `FLUSH TABLES WITH READ LOCK` on a control connection (needs RELOAD);
//! 2. each reader opens `START TRANSACTION WITH CONSISTENT SNAPSHOT`;
//! 3. the binlog position (and MariaDB's GTID) is read, then the lock is
//!    released: writes were held for as long as it takes to open the readers.
//!
//! The stream is a header, every `CREATE DATABASE` / `CREATE TABLE`, then
//! the rows as `INSERT INTO db.table (columns) VALUES …` statements of about
//! [`LogicalOptions::statement_bytes`] each (tables read in parallel, so
//! statements of different tables interleave; each is whole and names its
//! table), then the views, then a trailer line [`COMPLETE_MARKER`], so a cut
//! stream is told from a whole one. Generated columns are left out of the
//! rows (the server computes them). Triggers, routines and events are not
//! taken.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Row, Value};
use tokio::sync::mpsc;

use super::BackupError;
use crate::api::backup_objects::BackupObject;
use crate::discovery::mysql::connect;
use crate::discovery::Login;

/// The last line of a whole logical backup.
pub const COMPLETE_MARKER: &str = "-- dbs-gateway: logical backup complete";

/// Databases never taken.
const SYSTEM_DATABASES: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// MySQL's `ER_SPECIFIC_ACCESS_DENIED_ERROR` and `ER_DBACCESS_DENIED_ERROR`,
/// `ER_TABLEACCESS_DENIED_ERROR`, `ER_ACCESS_DENIED_ERROR`.
const ACCESS_DENIED: [u16; 4] = [1227, 1044, 1142, 1045];

/// The binary character set's number: such string columns are written as hex.
const BINARY_CHARSET: u16 = 63;

/// How a logical backup runs.
#[derive(Debug, Clone)]
pub struct LogicalOptions {
    /// Tables read at once (one connection each).
    pub threads: usize,
    /// Size an `INSERT` statement is cut at, in bytes.
    pub statement_bytes: usize,
}

impl Default for LogicalOptions {
    fn default() -> Self {
        LogicalOptions {
            threads: 4,
            statement_bytes: 1024 * 1024,
        }
    }
}

/// Where the backup's snapshot stands in the binlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogPosition {
    /// Binlog file name.
    pub file: String,
    /// Offset in that file.
    pub position: u64,
    /// MariaDB's `gtid_binlog_pos` (empty on MySQL or without GTIDs).
    pub gtid: String,
}

/// What a finished logical backup took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalSummary {
    /// Databases taken.
    pub databases: usize,
    /// Tables taken (views not counted).
    pub tables: usize,
    /// Rows written.
    pub rows: u64,
    /// Bytes of SQL written.
    pub bytes: u64,
    /// The snapshot's binlog position, when the server writes a binlog.
    pub binlog: Option<BinlogPosition>,
}

/// One table or view to take.
#[derive(Debug, Clone)]
struct Table {
    db: String,
    name: String,
    is_view: bool,
}

/// Takes a logical backup of `objects` (every user database when empty)
/// and sends it to `out` in chunks; the chunks concatenated are the SQL.
pub async fn backup(
    login: &Login,
    objects: &[BackupObject],
    options: &LogicalOptions,
    out: mpsc::Sender<Bytes>,
) -> Result<LogicalSummary, BackupError> {
    let endpoint = login.endpoint();
    let out = Output { out, endpoint };
    let mut control = connect(login).await?;
    let (databases, tables) = chosen_objects(&mut control, objects, &out.endpoint).await?;

    out.query(&mut control, "FLUSH TABLES WITH READ LOCK", "RELOAD")
        .await?;
    let threads = options.threads.clamp(1, tables.len().max(1));
    let mut readers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let mut reader = connect(login).await?;
        for statement in [
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            // TIMESTAMPs are read as the header has them loaded back.
            "SET time_zone = '+00:00'",
            "START TRANSACTION WITH CONSISTENT SNAPSHOT",
        ] {
            out.query(&mut reader, statement, "").await?;
        }
        readers.push(reader);
    }
    let binlog = binlog_position(&mut control, &out.endpoint).await?;
    out.query(&mut control, "UNLOCK TABLES", "").await?;

    let mut bytes = out.send(header(&binlog)).await?;
    for db in &databases {
        bytes += out
            .send(schema_of_database(&mut control, db, &tables, &out).await?)
            .await?;
    }

    let queue = Arc::new(Mutex::new(
        tables
            .iter()
            .filter(|t| !t.is_view)
            .cloned()
            .collect::<VecDeque<_>>(),
    ));
    let mut workers = tokio::task::JoinSet::new();
    for reader in readers {
        let (queue, out, statement_bytes) = (queue.clone(), out.clone(), options.statement_bytes);
        workers.spawn(async move { read_tables(reader, queue, out, statement_bytes).await });
    }
    let mut rows = 0;
    while let Some(done) = workers.join_next().await {
        let (r, b) = done.map_err(|e| BackupError::Query {
            endpoint: out.endpoint.clone(),
            what: "table reader".into(),
            detail: e.to_string(),
        })??;
        rows += r;
        bytes += b;
    }

    let mut views = String::new();
    for view in tables.iter().filter(|t| t.is_view) {
        let create: Option<(String, String, String, String)> = out
            .first(
                &mut control,
                &format!("SHOW CREATE VIEW {}", qualified(view)),
            )
            .await?;
        let (_, create, ..) = create.ok_or_else(|| out.not_found(&qualified(view)))?;
        views.push_str(&format!("USE {};\n{create};\n", quote_ident(&view.db)));
    }
    views.push_str(&trailer());
    bytes += out.send(views).await?;
    if let Err(e) = control.disconnect().await {
        tracing::debug!(endpoint = %out.endpoint, error = %e, "mysql disconnect");
    }
    Ok(LogicalSummary {
        databases: databases.len(),
        tables: tables.iter().filter(|t| !t.is_view).count(),
        rows,
        bytes,
        binlog,
    })
}

/// The databases (empty ones too) and the tables and views `objects`
/// names, each checked to exist.
async fn chosen_objects(
    conn: &mut Conn,
    objects: &[BackupObject],
    endpoint: &str,
) -> Result<(Vec<String>, Vec<Table>), BackupError> {
    let all: Vec<(String, String, String)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await
        .map_err(|e| query_error(endpoint, "list tables", "", e))?;
    let schemata: Vec<String> = conn
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
        .await
        .map_err(|e| query_error(endpoint, "list databases", "", e))?;
    let not_found = |name: String| BackupError::ObjectNotFound {
        endpoint: endpoint.to_string(),
        name,
    };
    for object in objects {
        if !schemata.contains(&object.db_name) {
            return Err(not_found(format!("database {}", object.db_name)));
        }
        for table in &object.table_includes {
            if !all
                .iter()
                .any(|(db, name, _)| *db == object.db_name && *name == table.table_name)
            {
                return Err(not_found(format!(
                    "table {}.{}",
                    object.db_name, table.table_name
                )));
            }
        }
    }
    let db_taken = |db: &str| {
        if objects.is_empty() {
            !SYSTEM_DATABASES.contains(&db)
        } else {
            objects.iter().any(|o| o.db_name == db)
        }
    };
    let taken = |db: &str, table: &str| {
        if objects.is_empty() {
            db_taken(db)
        } else {
            objects.iter().any(|o| o.db_name == db && o.takes(table))
        }
    };
    let databases = schemata.into_iter().filter(|db| db_taken(db)).collect();
    let tables = all
        .into_iter()
        .filter(|(db, name, _)| taken(db, name))
        .map(|(db, name, kind)| Table {
            db,
            name,
            is_view: kind == "VIEW",
        })
        .collect();
    Ok((databases, tables))
}

/// `SHOW MASTER STATUS` and MariaDB's GTID position; none without a binlog.
async fn binlog_position(
    conn: &mut Conn,
    endpoint: &str,
) -> Result<Option<BinlogPosition>, BackupError> {
    let status: Option<Row> = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .map_err(|e| query_error(endpoint, "SHOW MASTER STATUS", "BINLOG MONITOR", e))?;
    let Some(status) = status else {
        return Ok(None);
    };
    let file: Option<String> = status.get(0);
    let position: Option<u64> = status.get(1);
    // MySQL has no gtid_binlog_pos: its absence is not an error.
    let gtid: Option<String> = conn
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .unwrap_or(None);
    Ok(Some(BinlogPosition {
        file: file.unwrap_or_default(),
        position: position.unwrap_or_default(),
        gtid: gtid.unwrap_or_default(),
    }))
}

fn header(binlog: &Option<BinlogPosition>) -> String {
    let position = match binlog {
        Some(b) => format!(
            "-- binlog file {} position {} gtid {}\n",
            b.file, b.position, b.gtid
        ),
        None => "-- binlog: off\n".to_string(),
    };
    format!(
        "-- dbs-gateway logical backup\n{position}\
         SET NAMES utf8mb4;\n\
         SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0;\n\
         SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0;\n\
         SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO';\n\
         SET @OLD_TIME_ZONE=@@TIME_ZONE, TIME_ZONE='+00:00';\n"
    )
}

fn trailer() -> String {
    format!(
        "SET TIME_ZONE=@OLD_TIME_ZONE;\nSET SQL_MODE=@OLD_SQL_MODE;\n\
         SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS;\nSET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS;\n\
         {COMPLETE_MARKER}\n"
    )
}

/// `CREATE DATABASE` and the `CREATE TABLE` of each table of `db`.
async fn schema_of_database(
    conn: &mut Conn,
    db: &str,
    tables: &[Table],
    out: &Output,
) -> Result<String, BackupError> {
    let create_db: Option<(String, String)> = out
        .first(conn, &format!("SHOW CREATE DATABASE {}", quote_ident(db)))
        .await?;
    let (_, create_db) = create_db.ok_or_else(|| out.not_found(&format!("database {db}")))?;
    let create_db = create_db.replacen("CREATE DATABASE", "CREATE DATABASE IF NOT EXISTS", 1);
    let mut sql = format!("{create_db};\nUSE {};\n", quote_ident(db));
    for table in tables.iter().filter(|t| t.db == db && !t.is_view) {
        let create: Option<(String, String)> = out
            .first(conn, &format!("SHOW CREATE TABLE {}", qualified(table)))
            .await?;
        let (_, create) = create.ok_or_else(|| out.not_found(&qualified(table)))?;
        sql.push_str(&format!("{create};\n"));
    }
    Ok(sql)
}

/// One reader: takes tables off `queue` until it is empty; rows and bytes.
async fn read_tables(
    mut conn: Conn,
    queue: Arc<Mutex<VecDeque<Table>>>,
    out: Output,
    statement_bytes: usize,
) -> Result<(u64, u64), BackupError> {
    let (mut rows, mut bytes) = (0, 0);
    loop {
        let next = queue.lock().expect("table queue").pop_front();
        let Some(table) = next else { break };
        let (r, b) = read_table(&mut conn, &table, &out, statement_bytes).await?;
        rows += r;
        bytes += b;
    }
    out.query(&mut conn, "COMMIT", "").await?;
    if let Err(e) = conn.disconnect().await {
        tracing::debug!(endpoint = %out.endpoint, error = %e, "mysql disconnect");
    }
    Ok((rows, bytes))
}

/// Every row of `table` as `INSERT` statements of about `statement_bytes`.
async fn read_table(
    conn: &mut Conn,
    table: &Table,
    out: &Output,
    statement_bytes: usize,
) -> Result<(u64, u64), BackupError> {
    let columns: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA NOT LIKE '%GENERATED%' \
             AND EXTRA NOT IN ('VIRTUAL', 'PERSISTENT', 'STORED') ORDER BY ORDINAL_POSITION",
            (&table.db, &table.name),
        )
        .await
        .map_err(|e| query_error(&out.endpoint, &qualified(table), "SELECT", e))?;
    let column_list = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(",");
    let insert = format!("INSERT INTO {} ({column_list}) VALUES\n", qualified(table));
    let select = format!("SELECT {column_list} FROM {}", qualified(table));
    let mut result = conn
        .exec_iter(select, ())
        .await
        .map_err(|e| query_error(&out.endpoint, &qualified(table), "SELECT", e))?;
    let kinds: Vec<ValueKind> = result
        .columns()
        .map(|cols| cols.iter().map(ValueKind::of).collect())
        .unwrap_or_default();
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut statement = Vec::with_capacity(statement_bytes + statement_bytes / 8);
    while let Some(row) = result
        .next()
        .await
        .map_err(|e| query_error(&out.endpoint, &qualified(table), "SELECT", e))?
    {
        statement.extend_from_slice(if statement.is_empty() {
            insert.as_bytes()
        } else {
            b",\n"
        });
        push_row(&mut statement, &row, &kinds);
        rows += 1;
        if statement.len() >= statement_bytes {
            statement.extend_from_slice(b";\n");
            let full = std::mem::replace(
                &mut statement,
                Vec::with_capacity(statement_bytes + statement_bytes / 8),
            );
            bytes += out.send(full).await?;
        }
    }
    if !statement.is_empty() {
        statement.extend_from_slice(b";\n");
        bytes += out.send(statement).await?;
    }
    Ok((rows, bytes))
}

/// How a column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// As the server sent it (decimals, which come as text).
    Bare,
    /// As a hex literal (binary strings, BIT, geometry).
    Hex,
    /// As a quoted, escaped string.
    Quoted,
    /// A `DATE`: the day only.
    Date,
}

impl ValueKind {
    fn of(column: &Column) -> ValueKind {
        use ColumnType::*;
        match column.column_type() {
            MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_FLOAT
            | MYSQL_TYPE_DOUBLE
            | MYSQL_TYPE_DECIMAL
            | MYSQL_TYPE_NEWDECIMAL
            | MYSQL_TYPE_YEAR => ValueKind::Bare,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => ValueKind::Date,
            MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => ValueKind::Hex,
            MYSQL_TYPE_STRING
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
                if column.character_set() == BINARY_CHARSET =>
            {
                ValueKind::Hex
            }
            _ => ValueKind::Quoted,
        }
    }
}

fn push_row(sql: &mut Vec<u8>, row: &Row, kinds: &[ValueKind]) {
    sql.push(b'(');
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            sql.push(b',');
        }
        match row.as_ref(i) {
            Some(value) => push_value(sql, value, *kind),
            None => sql.extend_from_slice(b"NULL"),
        }
    }
    sql.push(b')');
}

/// Appends one value as read by the binary protocol: numbers, dates and
/// times come typed and are written here (the server would spend a third
/// of a backup's CPU printing them, doubles most of all); floating-point
/// numbers are written with the fewest digits that read back as the same
/// value.
fn push_value(sql: &mut Vec<u8>, value: &Value, kind: ValueKind) {
    match value {
        Value::NULL => sql.extend_from_slice(b"NULL"),
        Value::Bytes(bytes) => push_bytes(sql, bytes, kind),
        Value::Int(n) => sql.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Value::UInt(n) => sql.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Value::Float(x) => sql.extend_from_slice(ryu::Buffer::new().format(*x).as_bytes()),
        Value::Double(x) => sql.extend_from_slice(ryu::Buffer::new().format(*x).as_bytes()),
        Value::Date(year, month, day, hour, minute, second, micros) => {
            sql.push(b'\'');
            push_padded(sql, u32::from(*year), 4);
            for (separator, part) in [(b'-', *month), (b'-', *day)] {
                sql.push(separator);
                push_padded(sql, u32::from(part), 2);
            }
            if kind != ValueKind::Date {
                sql.push(b' ');
                push_clock(sql, u32::from(*hour), *minute, *second, *micros);
            }
            sql.push(b'\'');
        }
        Value::Time(negative, days, hours, minutes, seconds, micros) => {
            sql.push(b'\'');
            if *negative {
                sql.push(b'-');
            }
            let hours = days * 24 + u32::from(*hours);
            push_clock(sql, hours, *minutes, *seconds, *micros);
            sql.push(b'\'');
        }
    }
}

/// `HH:MM:SS`, and `.ffffff` when there are microseconds.
fn push_clock(sql: &mut Vec<u8>, hours: u32, minutes: u8, seconds: u8, micros: u32) {
    push_padded(sql, hours, 2);
    for part in [minutes, seconds] {
        sql.push(b':');
        push_padded(sql, u32::from(part), 2);
    }
    if micros > 0 {
        sql.push(b'.');
        push_padded(sql, micros, 6);
    }
}

/// `n` in decimal, zeros in front up to `width` digits.
fn push_padded(sql: &mut Vec<u8>, n: u32, width: usize) {
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(n).as_bytes();
    sql.resize(sql.len() + width.saturating_sub(digits.len()), b'0');
    sql.extend_from_slice(digits);
}

/// Appends a value the server sent as bytes. Strings are escaped byte by
/// byte: the bytes escaped are ASCII, which never occur inside a multi-byte
/// UTF-8 character, so the server's bytes are kept exactly as they are.
fn push_bytes(sql: &mut Vec<u8>, bytes: &[u8], kind: ValueKind) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match kind {
        ValueKind::Bare => sql.extend_from_slice(bytes),
        ValueKind::Hex if bytes.is_empty() => sql.extend_from_slice(b"''"),
        ValueKind::Hex => {
            sql.reserve(2 + 2 * bytes.len());
            sql.extend_from_slice(b"0x");
            for b in bytes {
                sql.push(HEX[usize::from(b >> 4)]);
                sql.push(HEX[usize::from(b & 15)]);
            }
        }
        ValueKind::Quoted | ValueKind::Date if !needs_escape(bytes) => {
            sql.reserve(2 + bytes.len());
            sql.push(b'\'');
            sql.extend_from_slice(bytes);
            sql.push(b'\'');
        }
        ValueKind::Quoted | ValueKind::Date => {
            sql.reserve(2 + bytes.len());
            sql.push(b'\'');
            let mut plain = 0;
            for (i, b) in bytes.iter().enumerate() {
                let escaped: &[u8] = match b {
                    0 => b"\\0",
                    b'\'' => b"\\'",
                    b'\\' => b"\\\\",
                    b'\n' => b"\\n",
                    b'\r' => b"\\r",
                    0x1a => b"\\Z",
                    _ => continue,
                };
                sql.extend_from_slice(&bytes[plain..i]);
                sql.extend_from_slice(escaped);
                plain = i + 1;
            }
            sql.extend_from_slice(&bytes[plain..]);
            sql.push(b'\'');
        }
    }
}

/// Whether `bytes` holds a byte [`push_bytes`] escapes: one below 0x20
/// (NUL, newline, return, Ctrl-Z among them), a quote or a backslash. It
/// looks at every byte without stopping early, so the compiler checks many
/// at once: most values have nothing to escape and are copied whole.
fn needs_escape(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |hit, &b| {
        hit | (b < 0x20) | (b == b'\'') | (b == b'\\')
    })
}

/// An identifier in backquotes, inner backquotes doubled.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn qualified(table: &Table) -> String {
    format!("{}.{}", quote_ident(&table.db), quote_ident(&table.name))
}

/// The stream's sending end, with the endpoint for errors.
#[derive(Clone)]
struct Output {
    out: mpsc::Sender<Bytes>,
    endpoint: String,
}

impl Output {
    /// Sends `sql`; its length in bytes.
    async fn send(&self, sql: impl Into<Bytes>) -> Result<u64, BackupError> {
        let sql = sql.into();
        let len = sql.len() as u64;
        self.out
            .send(sql)
            .await
            .map_err(|_| BackupError::Cancelled)?;
        Ok(len)
    }

    /// Runs `statement`; a refusal names `privilege` when one is given.
    async fn query(
        &self,
        conn: &mut Conn,
        statement: &str,
        privilege: &'static str,
    ) -> Result<(), BackupError> {
        conn.query_drop(statement)
            .await
            .map_err(|e| query_error(&self.endpoint, statement, privilege, e))
    }

    /// The first row of `statement`.
    async fn first<T: mysql_async::prelude::FromRow + Send + 'static>(
        &self,
        conn: &mut Conn,
        statement: &str,
    ) -> Result<Option<T>, BackupError> {
        conn.query_first(statement)
            .await
            .map_err(|e| query_error(&self.endpoint, statement, "SELECT, SHOW VIEW", e))
    }

    fn not_found(&self, name: &str) -> BackupError {
        BackupError::ObjectNotFound {
            endpoint: self.endpoint.clone(),
            name: name.to_string(),
        }
    }
}

/// A failed statement; an access refusal names `privilege` when known.
fn query_error(
    endpoint: &str,
    what: &str,
    privilege: &'static str,
    err: mysql_async::Error,
) -> BackupError {
    match err {
        mysql_async::Error::Server(e)
            if ACCESS_DENIED.contains(&e.code) && !privilege.is_empty() =>
        {
            BackupError::Privilege {
                endpoint: endpoint.to_string(),
                privilege,
                detail: format!("{what}: {}", e.message),
            }
        }
        other => BackupError::Query {
            endpoint: endpoint.to_string(),
            what: what.to_string(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(value: Value, kind: ValueKind) -> String {
        let mut s = Vec::new();
        push_value(&mut s, &value, kind);
        String::from_utf8(s).unwrap()
    }

    fn bytes(bytes: &[u8], kind: ValueKind) -> String {
        value(Value::Bytes(bytes.to_vec()), kind)
    }

    #[test]
    fn strings_are_escaped_for_mariadb() {
        assert_eq!(
            bytes(b"it's a \\ \n\r\0\x1a", ValueKind::Quoted),
            r"'it\'s a \\ \n\r\0\Z'"
        );
        assert_eq!(bytes("é✓".as_bytes(), ValueKind::Quoted), "'é✓'");
        assert_eq!(bytes(b"plain", ValueKind::Quoted), "'plain'");
        assert_eq!(bytes(b"tab\there", ValueKind::Quoted), "'tab\there'");
        assert_eq!(bytes(b"", ValueKind::Quoted), "''");
    }

    #[test]
    fn binary_values_are_hex_and_decimals_bare() {
        assert_eq!(bytes(&[0, 0xff, 0x1a], ValueKind::Hex), "0x00FF1A");
        assert_eq!(bytes(b"", ValueKind::Hex), "''");
        assert_eq!(bytes(b"-12.50", ValueKind::Bare), "-12.50");
        assert_eq!(value(Value::NULL, ValueKind::Quoted), "NULL");
    }

    #[test]
    fn numbers_are_bare_and_floats_read_back_as_the_same_value() {
        assert_eq!(value(Value::Int(-42), ValueKind::Bare), "-42");
        assert_eq!(
            value(Value::UInt(u64::MAX), ValueKind::Bare),
            "18446744073709551615"
        );
        for x in [0.1 + 0.2, -1e300, 5e-324, 1.0 / 7.0, 0.0, 123456789.0] {
            let written = value(Value::Double(x), ValueKind::Bare);
            assert_eq!(
                written.parse::<f64>().unwrap().to_bits(),
                x.to_bits(),
                "{written}"
            );
        }
        assert_eq!(value(Value::Double(-1e300), ValueKind::Bare), "-1e300");
        assert_eq!(value(Value::Float(0.1), ValueKind::Bare), "0.1");
    }

    #[test]
    fn dates_and_times_are_quoted_with_microseconds_only_when_there_are_some() {
        let day = Value::Date(2026, 1, 2, 0, 0, 0, 0);
        assert_eq!(value(day.clone(), ValueKind::Date), "'2026-01-02'");
        assert_eq!(value(day, ValueKind::Quoted), "'2026-01-02 00:00:00'");
        assert_eq!(
            value(Value::Date(987, 11, 27, 18, 5, 9, 123), ValueKind::Quoted),
            "'0987-11-27 18:05:09.000123'"
        );
        assert_eq!(
            value(Value::Date(0, 0, 0, 0, 0, 0, 0), ValueKind::Quoted),
            "'0000-00-00 00:00:00'"
        );
        assert_eq!(
            value(
                Value::Time(true, 34, 22, 59, 59, 500_000),
                ValueKind::Quoted
            ),
            "'-838:59:59.500000'"
        );
        assert_eq!(
            value(Value::Time(false, 0, 1, 2, 3, 0), ValueKind::Quoted),
            "'01:02:03'"
        );
    }

    #[test]
    fn identifiers_double_their_backquotes() {
        assert_eq!(quote_ident("we`ird"), "`we``ird`");
    }
}
