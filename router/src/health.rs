//! The HTTP endpoint for Prometheus and Kubernetes probes: `/metrics`, `/healthz`, `/readyz`.
//!
//! - `/metrics`: the text exposition of [`Metrics`].
//! - `/healthz` (liveness): `200 ok` while the process serves requests.
//! - `/readyz` (readiness): `200` when events can be made durable — the bus is connected or
//!   the spool has room — else `503` with the reason.
//!
//! A deliberately tiny HTTP/1.x responder: `GET`/`HEAD` only, one request per connection
//! (`Connection: close`), the request head capped at [`MAX_REQUEST_BYTES`] and read under
//! [`REQUEST_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once. Three fixed paths do not justify
//! an HTTP stack, and sharing one port for metrics and probes keeps the pod spec simple.

use crate::metrics::{CONTENT_TYPE, Metrics};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Largest request head read (request line and headers).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at the same time; more wait in the accept backlog.
pub const MAX_CONNECTIONS: usize = 32;

/// Whether the process can take events now, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Ready for traffic.
    pub ready: bool,
    /// A one-line explanation for people (no patient data).
    pub detail: String,
}

impl Readiness {
    /// Ready, with a detail.
    pub fn ready(detail: impl Into<String>) -> Self {
        Self {
            ready: true,
            detail: detail.into(),
        }
    }

    /// Not ready, with the reason.
    pub fn not_ready(detail: impl Into<String>) -> Self {
        Self {
            ready: false,
            detail: detail.into(),
        }
    }

    /// The rule of `/readyz`: ready when the bus is connected or the spool can still take
    /// events.
    pub fn from_parts(bus_connected: bool, spool_has_room: bool) -> Self {
        match (bus_connected, spool_has_room) {
            (true, _) => Self::ready("bus connected"),
            (false, true) => Self::ready("bus not connected; spooling"),
            (false, false) => Self::not_ready("bus not connected and spool full"),
        }
    }
}

/// Answers `/readyz`.
pub type ReadinessCheck = Arc<dyn Fn() -> Readiness + Send + Sync>;

/// What the endpoint serves.
#[derive(Clone)]
pub struct HealthEndpoint {
    metrics: Metrics,
    readiness: ReadinessCheck,
}

impl std::fmt::Debug for HealthEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthEndpoint").finish_non_exhaustive()
    }
}

/// A response: status code, reason, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Content type of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Unknown",
        }
    }
}

impl HealthEndpoint {
    /// An endpoint serving `metrics` and asking `readiness` for `/readyz`.
    pub fn new(metrics: Metrics, readiness: ReadinessCheck) -> Self {
        Self { metrics, readiness }
    }

    /// The response to a request line such as `GET /metrics HTTP/1.1`.
    pub fn respond(&self, request_line: &str) -> Response {
        let mut parts = request_line.split_ascii_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Response::text(400, "bad request\n");
        };
        if method != "GET" && method != "HEAD" {
            return Response::text(405, "only GET and HEAD\n");
        }
        let path = target.split('?').next().unwrap_or(target);
        match path {
            "/metrics" => Response {
                status: 200,
                content_type: CONTENT_TYPE,
                body: self.metrics.render(),
            },
            "/healthz" | "/livez" => Response::text(200, "ok\n"),
            "/readyz" => {
                let r = (self.readiness)();
                if r.ready {
                    Response::text(200, format!("ready: {}\n", r.detail))
                } else {
                    Response::text(503, format!("not ready: {}\n", r.detail))
                }
            }
            _ => Response::text(404, "not found; try /metrics, /healthz or /readyz\n"),
        }
    }

    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Serves connections from `listener` until `shutdown` is cancelled, then waits for the
    /// connections in progress.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                () = shutdown.cancelled() => break,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, _peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics endpoint: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let this = self.clone();
            tracker.spawn(async move {
                this.handle(stream).await;
                drop(permit);
            });
        }
        tracker.close();
        tracker.wait().await;
    }

    async fn handle(&self, mut stream: TcpStream) {
        let response = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
            Err(_) => Response::text(408, "request timeout\n"),
            Ok(Err(HeadError::TooLarge)) => Response::text(431, "request too large\n"),
            Ok(Err(HeadError::Io)) => return,
            Ok(Ok(head)) => {
                let line = head.lines().next().unwrap_or_default().to_owned();
                let mut r = self.respond(&line);
                if line.starts_with("HEAD ") {
                    // Keep the length of the GET body, send no body.
                    let len = r.body.len();
                    r.body = String::new();
                    return write_response(&mut stream, &r, len).await;
                }
                r
            }
        };
        let len = response.body.len();
        write_response(&mut stream, &response, len).await;
    }
}

enum HeadError {
    TooLarge,
    Io,
}

/// Reads until the blank line that ends the request head.
async fn read_head(stream: &mut TcpStream) -> Result<String, HeadError> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn write_response(stream: &mut TcpStream, r: &Response, content_length: usize) {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {content_length}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        r.status,
        r.reason(),
        r.content_type
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(r.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(ready: bool) -> HealthEndpoint {
        HealthEndpoint::new(
            Metrics::new(),
            Arc::new(move || Readiness::from_parts(ready, false)),
        )
    }

    #[test]
    fn routes_and_methods() {
        let e = endpoint(true);
        assert_eq!(e.respond("GET /healthz HTTP/1.1").status, 200);
        assert_eq!(e.respond("GET /readyz?verbose HTTP/1.1").status, 200);
        assert_eq!(e.respond("GET /nope HTTP/1.1").status, 404);
        assert_eq!(e.respond("POST /metrics HTTP/1.1").status, 405);
        assert_eq!(e.respond("").status, 400);
        let m = e.respond("GET /metrics HTTP/1.1");
        assert_eq!(m.content_type, CONTENT_TYPE);
    }

    #[test]
    fn readiness_follows_bus_and_spool() {
        assert!(Readiness::from_parts(true, false).ready);
        assert!(Readiness::from_parts(false, true).ready);
        assert!(!Readiness::from_parts(false, false).ready);
        let r = endpoint(false).respond("GET /readyz HTTP/1.1");
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "not ready: bus not connected and spool full\n");
    }

    async fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_probes_over_tcp_and_stops_on_shutdown() {
        let metrics = Metrics::new();
        let stats = Arc::new(crate::stats::RouterStats::default());
        crate::stats::RouterStats::add(&stats.spooled, 7);
        metrics.register_router(stats);
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ready);
        let endpoint = HealthEndpoint::new(
            metrics,
            Arc::new(move || {
                Readiness::from_parts(flag.load(std::sync::atomic::Ordering::Relaxed), false)
            }),
        );
        let listener = HealthEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(endpoint.serve(listener, shutdown.clone()));

        let m = get(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
        assert!(m.contains("Content-Type: text/plain; version=0.0.4"), "{m}");
        assert!(m.contains("\r\n\r\n# HELP "), "{m}");
        assert!(m.contains("\nlabwire_events_spooled_total 7\n"), "{m}");

        let r = get(addr, b"GET /readyz HTTP/1.0\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
        ready.store(true, std::sync::atomic::Ordering::Relaxed);
        let r = get(addr, b"GET /readyz HTTP/1.0\r\n\r\n").await;
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("ready: bus connected\n"),
            "{r}"
        );

        let h = get(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert!(
            h.contains("Content-Length: 3\r\n") && h.ends_with("\r\n\r\n"),
            "{h}"
        );

        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST_BYTES + 10));
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(&big).await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }
}
