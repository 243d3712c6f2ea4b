//! A minimal TDS test server (NOT SQL Server): just enough of the TDS 7.4
//! protocol to exercise the MSSQL lister over a real socket.
//!
//! It answers PRELOGIN (encryption not supported), checks the user name and
//! password of LOGIN7 (LOGINACK + DONE, or ERROR 18456 + DONE), and answers
//! a SQL batch that reads `sys.databases` with COLMETADATA, one ROW per
//! database and DONE. Like the real server it applies the query's
//! `name NOT IN ('a', 'b')` filter; any other batch gets ERROR 208.
//! It records how many connections it accepted and the batches it ran.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PT_SQL_BATCH: u8 = 0x01;
const PT_TABULAR_RESULT: u8 = 0x04;
const PT_LOGIN7: u8 = 0x10;
const PT_PRELOGIN: u8 = 0x12;
const MAX_PACKET: usize = 4096;

/// One row of the server's `sys.databases`.
#[derive(Debug, Clone)]
pub struct TdsDatabase {
    pub name: String,
    pub state: String,
    pub recovery_model: String,
}

impl TdsDatabase {
    pub fn new(name: &str, state: &str, recovery_model: &str) -> Self {
        TdsDatabase {
            name: name.into(),
            state: state.into(),
            recovery_model: recovery_model.into(),
        }
    }
}

#[derive(Default)]
struct Log {
    connections: usize,
    batches: Vec<String>,
}

/// A running test server on 127.0.0.1; stops when the test's runtime ends.
pub struct TdsServer {
    pub port: u16,
    log: Arc<Mutex<Log>>,
}

struct Setup {
    user: String,
    password: String,
    databases: Vec<TdsDatabase>,
    answer_batches: bool,
}

impl TdsServer {
    /// Starts a server that accepts `user` / `password` and serves `databases`.
    pub async fn start(user: &str, password: &str, databases: Vec<TdsDatabase>) -> Self {
        Self::spawn(Setup {
            user: user.into(),
            password: password.into(),
            databases,
            answer_batches: true,
        })
        .await
    }

    /// Starts a server that logs `user` / `password` in, records batches and
    /// never answers them (a query that does not finish).
    pub async fn start_unanswering(user: &str, password: &str) -> Self {
        Self::spawn(Setup {
            user: user.into(),
            password: password.into(),
            databases: Vec::new(),
            answer_batches: false,
        })
        .await
    }

    async fn spawn(setup: Setup) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let log = Arc::new(Mutex::new(Log::default()));
        let setup = Arc::new(setup);
        let task_log = log.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                task_log.lock().expect("log").connections += 1;
                let (setup, log) = (setup.clone(), task_log.clone());
                tokio::spawn(async move {
                    // A connection that breaks off simply ends.
                    let _ = serve(stream, &setup, &log).await;
                });
            }
        });
        TdsServer { port, log }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.log.lock().expect("log").connections
    }

    /// SQL batches received so far, as text.
    pub fn batches(&self) -> Vec<String> {
        self.log.lock().expect("log").batches.clone()
    }
}

type Io<T> = std::io::Result<T>;

fn protocol_error(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

async fn serve(mut stream: TcpStream, setup: &Setup, log: &Mutex<Log>) -> Io<()> {
    let (ty, _) = read_message(&mut stream).await?;
    if ty != PT_PRELOGIN {
        return Err(protocol_error("expected PRELOGIN"));
    }
    write_message(&mut stream, &prelogin_answer()).await?;

    // A client that insists on TLS sends a TLS handshake (in PRELOGIN
    // packets) here instead of LOGIN7; this server has no TLS and hangs up.
    let (ty, login) = read_message(&mut stream).await?;
    if ty != PT_LOGIN7 {
        return Err(protocol_error("expected LOGIN7"));
    }
    let (user, password) = parse_login7(&login).ok_or_else(|| protocol_error("bad LOGIN7"))?;
    if user != setup.user || password != setup.password {
        let mut out = Vec::new();
        error_token(
            &mut out,
            18456,
            14,
            &format!("Login failed for user '{user}'."),
        );
        done_token(&mut out, 0x0002, 0, 0);
        write_message(&mut stream, &out).await?;
        return Ok(());
    }
    let mut out = Vec::new();
    login_ack_token(&mut out);
    done_token(&mut out, 0, 0, 0);
    write_message(&mut stream, &out).await?;

    loop {
        let (ty, payload) = match read_message(&mut stream).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if ty != PT_SQL_BATCH {
            return Err(protocol_error("expected a SQL batch"));
        }
        let text = batch_text(&payload).ok_or_else(|| protocol_error("bad SQL batch"))?;
        log.lock().expect("log").batches.push(text.clone());
        if !setup.answer_batches {
            continue;
        }
        let out = if text.contains("sys.databases") {
            databases_answer(&setup.databases, &not_in_names(&text))
        } else {
            let mut out = Vec::new();
            error_token(&mut out, 208, 16, "Invalid object name.");
            done_token(&mut out, 0x0002, 0, 0);
            out
        };
        write_message(&mut stream, &out).await?;
    }
}

/// Reads one message (packets up to the one marked end-of-message).
async fn read_message(stream: &mut TcpStream) -> Io<(u8, Vec<u8>)> {
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; 8];
        stream.read_exact(&mut header).await?;
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        if len < 8 {
            return Err(protocol_error("packet length below 8"));
        }
        let mut body = vec![0u8; len - 8];
        stream.read_exact(&mut body).await?;
        payload.extend_from_slice(&body);
        if header[1] & 0x01 != 0 {
            return Ok((header[0], payload));
        }
    }
}

/// Writes `payload` as tabular-result packets of at most 4096 bytes.
async fn write_message(stream: &mut TcpStream, payload: &[u8]) -> Io<()> {
    let chunks: Vec<&[u8]> = payload.chunks(MAX_PACKET - 8).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let len = (chunk.len() + 8) as u16;
        let mut packet = vec![PT_TABULAR_RESULT, u8::from(last)];
        packet.extend_from_slice(&len.to_be_bytes());
        packet.extend_from_slice(&[0, 0, (i + 1) as u8, 0]);
        packet.extend_from_slice(chunk);
        stream.write_all(&packet).await?;
    }
    stream.flush().await
}

/// PRELOGIN answer: version, encryption NOT_SUP, no instance, thread id, no MARS.
fn prelogin_answer() -> Vec<u8> {
    let options: [(u8, Vec<u8>); 5] = [
        (0x00, vec![16, 0, 0x07, 0xD0, 0, 0]), // VERSION 16.0.2000, sub-build 0
        (0x01, vec![0x02]),                    // ENCRYPTION: ENCRYPT_NOT_SUP
        (0x02, vec![0x00]),                    // INSTOPT: default instance
        (0x03, vec![0, 0, 0, 0]),              // THREADID
        (0x04, vec![0x00]),                    // MARS off
    ];
    let mut offset = (options.len() * 5 + 1) as u16;
    let mut table = Vec::new();
    let mut data = Vec::new();
    for (token, value) in options {
        table.push(token);
        table.extend_from_slice(&offset.to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        offset += value.len() as u16;
        data.extend_from_slice(&value);
    }
    table.push(0xFF);
    table.extend_from_slice(&data);
    table
}

/// User name and password of a LOGIN7 record.
fn parse_login7(login: &[u8]) -> Option<(String, String)> {
    let field = |index: usize| -> Option<&[u8]> {
        let at = 36 + index * 4;
        let offset = u16::from_le_bytes([*login.get(at)?, *login.get(at + 1)?]) as usize;
        let chars = u16::from_le_bytes([*login.get(at + 2)?, *login.get(at + 3)?]) as usize;
        login.get(offset..offset + chars * 2)
    };
    let user = utf16(field(1)?)?;
    // Each password byte is sent with its nibbles swapped, XOR 0xA5.
    let clear: Vec<u8> = field(2)?
        .iter()
        .map(|b| {
            let x = b ^ 0xA5;
            x.rotate_left(4)
        })
        .collect();
    Some((user, utf16(&clear)?))
}

/// The text of a SQL batch, after its ALL_HEADERS block.
fn batch_text(payload: &[u8]) -> Option<String> {
    let headers = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    utf16(payload.get(headers..)?)
}

fn utf16(bytes: &[u8]) -> Option<String> {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
        .collect();
    String::from_utf16(&units).ok()
}

/// The names of a `name NOT IN ('a', 'b')` clause.
fn not_in_names(sql: &str) -> Vec<String> {
    let upper = sql.to_ascii_uppercase();
    let Some(start) = upper.find("NOT IN (") else {
        return Vec::new();
    };
    let rest = &sql[start + "NOT IN (".len()..];
    let list = rest.split(')').next().unwrap_or_default();
    list.split(',')
        .map(|s| s.trim().trim_matches('\'').to_string())
        .collect()
}

fn databases_answer(databases: &[TdsDatabase], excluded: &[String]) -> Vec<u8> {
    let mut rows: Vec<&TdsDatabase> = databases
        .iter()
        .filter(|d| !excluded.contains(&d.name))
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));

    let mut out = vec![0x81]; // COLMETADATA
    out.extend_from_slice(&3u16.to_le_bytes());
    for (name, max_chars, nullable) in [
        ("name", 128u16, false),
        ("state_desc", 60, true),
        ("recovery_model_desc", 60, true),
    ] {
        out.extend_from_slice(&0u32.to_le_bytes()); // user type
        out.extend_from_slice(&u16::from(nullable).to_le_bytes()); // flags
        out.push(0xE7); // NVARCHAR
        out.extend_from_slice(&(max_chars * 2).to_le_bytes());
        out.extend_from_slice(&[0x09, 0x04, 0xD0, 0x00, 0x34]); // Latin1_General_CI_AS
        b_varchar(&mut out, name);
    }
    for db in &rows {
        out.push(0xD1); // ROW
        for value in [&db.name, &db.state, &db.recovery_model] {
            let bytes: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
            out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
    }
    done_token(&mut out, 0x0010, 0xC1, rows.len() as u64); // DONE_COUNT, SELECT
    out
}

fn b_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().collect();
    out.push(units.len() as u8);
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
}

fn us_varchar(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().collect();
    out.extend_from_slice(&(units.len() as u16).to_le_bytes());
    out.extend(units.iter().flat_map(|u| u.to_le_bytes()));
}

fn login_ack_token(out: &mut Vec<u8>) {
    let mut body = vec![0x01]; // interface: T-SQL
    body.extend_from_slice(&0x7400_0004u32.to_be_bytes()); // TDS 7.4
    b_varchar(&mut body, "TDS test server");
    body.extend_from_slice(&[16, 0, 0x07, 0xD0]); // program version
    out.push(0xAD);
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
}

fn error_token(out: &mut Vec<u8>, number: u32, class: u8, message: &str) {
    let mut body = Vec::new();
    body.extend_from_slice(&number.to_le_bytes());
    body.push(1); // state
    body.push(class);
    us_varchar(&mut body, message);
    b_varchar(&mut body, "tds-test-server");
    b_varchar(&mut body, "");
    body.extend_from_slice(&1u32.to_le_bytes()); // line
    out.push(0xAA);
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
}

fn done_token(out: &mut Vec<u8>, status: u16, cur_cmd: u16, rows: u64) {
    out.push(0xFD);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&cur_cmd.to_le_bytes());
    out.extend_from_slice(&rows.to_le_bytes());
}
