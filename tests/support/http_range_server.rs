//! A real HTTP server (axum on 127.0.0.1:0, in the test process) serving one
//! byte buffer at `/files/{name}` with `Range`, `If-Range` and `ETag`, like
//! dbs-control's set URLs. It counts the body bytes it sends and can be told
//! to corrupt a byte, drop the connection after N bytes, or ignore `Range`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

/// Faults to inject; changed with [`RangeServer::set`].
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Flip every bit of the byte at this offset in every response.
    pub corrupt_at: Option<u64>,
    /// Abort the next response after this many body bytes (once).
    pub drop_after: Option<u64>,
    /// Answer every request with 200 and the whole body.
    pub ignore_range: bool,
    /// Answer with this status and no body.
    pub fail_status: Option<u16>,
}

struct Shared {
    data: Bytes,
    etag: String,
    faults: Mutex<Faults>,
    sent: AtomicU64,
    ranges: Mutex<Vec<Option<String>>>,
}

/// The running server; stops when dropped.
pub struct RangeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RangeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RangeServer {
    /// Serves `data` on a free loopback port.
    pub async fn start(data: Vec<u8>) -> Self {
        let shared = Arc::new(Shared {
            etag: format!("\"{:x}\"", data.len()),
            data: Bytes::from(data),
            faults: Mutex::new(Faults::default()),
            sent: AtomicU64::new(0),
            ranges: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/files/{*name}", get(serve))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RangeServer { addr, shared, task }
    }

    /// The URL of the buffer under `name`, with a query like a signed URL.
    pub fn url(&self, name: &str) -> String {
        format!(
            "http://127.0.0.1:{}/files/{name}?Expires=9999999999&Signature=secret",
            self.addr.port()
        )
    }

    /// Changes the faults.
    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.shared.faults.lock().unwrap());
    }

    /// Body bytes sent so far, over all requests.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// The `Range` header of every GET, in order.
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.shared.ranges.lock().unwrap().clone()
    }
}

async fn serve(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response<Body> {
    let faults = {
        let mut f = s.faults.lock().unwrap();
        let now = f.clone();
        f.drop_after = None;
        now
    };
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.ranges.lock().unwrap().push(range.clone());
    let len = s.data.len() as u64;
    let mut resp = Response::builder()
        .header(header::ETAG, &s.etag)
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(status) = faults.fail_status {
        return resp.status(status).body(Body::empty()).unwrap();
    }
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .map(|v| v.as_bytes() == s.etag.as_bytes())
        .unwrap_or(true);
    let wanted = range
        .filter(|_| !faults.ignore_range && if_range_ok)
        .and_then(|r| parse_range(&r, len));
    let (start, end, status) = match wanted {
        Some(Ok((start, end))) => (start, end, StatusCode::PARTIAL_CONTENT),
        Some(Err(())) => {
            return resp
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap();
        }
        None => (0, len, StatusCode::OK),
    };
    if status == StatusCode::PARTIAL_CONTENT {
        resp = resp.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1),
        );
    }
    resp = resp.header(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    let body = chunks(s.clone(), start, end, faults);
    resp.status(status).body(Body::from_stream(body)).unwrap()
}

/// `bytes=N-` or `bytes=N-M` → the half-open range, `Err` when unsatisfiable.
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        len
    } else {
        b.parse::<u64>().ok()?.saturating_add(1).min(len)
    };
    if start >= len || start >= end {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

fn chunks(
    s: Arc<Shared>,
    start: u64,
    end: u64,
    faults: Faults,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    const CHUNK: u64 = 64 * 1024;
    futures::stream::unfold((start, 0u64), move |(pos, sent)| {
        let s = s.clone();
        let faults = faults.clone();
        async move {
            if pos >= end {
                return None;
            }
            if let Some(limit) = faults.drop_after {
                if sent >= limit {
                    let err = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "drop");
                    return Some((Err(err), (end, sent)));
                }
            }
            let mut take = CHUNK.min(end - pos);
            if let Some(limit) = faults.drop_after {
                take = take.min(limit - sent);
            }
            let mut chunk = s.data.slice(pos as usize..(pos + take) as usize);
            if let Some(at) = faults.corrupt_at.filter(|&at| at >= pos && at < pos + take) {
                let mut owned = chunk.to_vec();
                owned[(at - pos) as usize] ^= 0xff;
                chunk = Bytes::from(owned);
            }
            s.sent.fetch_add(take, Ordering::SeqCst);
            Some((Ok(chunk), (pos + take, sent + take)))
        }
    })
}
