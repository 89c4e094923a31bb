//! `qwarden witness serve`: the `tlog-witness` HTTP/1.1 endpoint
//! `POST <prefix>/add-checkpoint`.
//!
//! The server is hardened for an untrusted network: request bodies are limited
//! ([`ServerConfig::max_body`], `413` above it), headers and bodies must arrive within
//! [`ServerConfig::request_timeout`] (`408` for a slow body; a slow or idle connection is
//! closed), and at most [`ServerConfig::max_connections`] connections are served at once (more
//! wait in the listen queue). The witness logic runs on tokio's blocking pool, since it fsyncs.
//!
//! Other paths answer `404`, other methods on the endpoint `405`. Plain HTTP only: put a TLS
//! terminating proxy in front of a witness that must be reached over an untrusted network (the
//! answers are signed, so the transport protects only against snooping and denial of service).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::state::{Response, Witness};
use super::{ADD_CHECKPOINT_PATH, CONTENT_TYPE_TEXT};

/// The default largest request body: 64 KiB, far above a checkpoint with a hundred signatures
/// and a full consistency proof.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// The default time a client has to send a request's headers, and then its body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The default largest number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// How the witness server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The submission prefix: empty, or a path starting with `/` and not ending with one (such
    /// as `/witness`). The endpoint is `<prefix>/add-checkpoint`.
    pub prefix: String,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// How long a client may take to send a request's headers (or, on an idle keep-alive
    /// connection, to start the next request), and then again its body. Also the longest
    /// graceful shutdown waits for requests in progress.
    pub request_timeout: Duration,
    /// The largest number of connections served at once.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            prefix: String::new(),
            max_body: DEFAULT_MAX_BODY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Why the witness server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configured prefix is not a usable URL path.
    #[error(
        "the witness path prefix `{prefix}` is invalid: it must be empty or start with `/`, \
         not end with `/`, and contain no `?`, `#` or spaces (for example `/witness`)"
    )]
    InvalidPrefix {
        /// The rejected prefix.
        prefix: String,
    },
    /// A limit is zero.
    #[error("the witness server's `{setting}` must be greater than zero")]
    ZeroLimit {
        /// The setting.
        setting: &'static str,
    },
}

fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix.starts_with('/')
            && !prefix.ends_with('/')
            && !prefix
                .bytes()
                .any(|b| b <= b' ' || b == b'?' || b == b'#' || b >= 0x7f))
}

/// What every connection's handler shares.
struct Shared {
    witness: Arc<Witness>,
    path: String,
    max_body: usize,
    request_timeout: Duration,
}

/// Serves `witness` on `listener` with [`ServerConfig::default`] until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    serve_with(listener, witness, ServerConfig::default(), shutdown).await
}

/// Serves `witness` on `listener` until `shutdown` completes.
///
/// On shutdown the listener is closed at once, idle connections are closed, and requests in
/// progress are given up to [`ServerConfig::request_timeout`] to finish; a checkpoint the
/// witness has already recorded stays recorded either way. Must run inside a tokio runtime
/// with I/O and time enabled.
pub async fn serve_with(
    listener: TcpListener,
    witness: Arc<Witness>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    if !valid_prefix(&config.prefix) {
        return Err(ServeError::InvalidPrefix {
            prefix: config.prefix,
        });
    }
    for (setting, value) in [
        ("max_body", config.max_body),
        ("max_connections", config.max_connections),
    ] {
        if value == 0 {
            return Err(ServeError::ZeroLimit { setting });
        }
    }
    if config.request_timeout.is_zero() {
        return Err(ServeError::ZeroLimit {
            setting: "request_timeout",
        });
    }
    let shared = Arc::new(Shared {
        witness,
        path: format!("{}{ADD_CHECKPOINT_PATH}", config.prefix),
        max_body: config.max_body,
        request_timeout: config.request_timeout,
    });
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.request_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(_) => {
                    // Out of file descriptors or a connection reset before accept: back off
                    // briefly instead of spinning, and keep serving.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(&shared, req).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a timeout, a malformed request line) and
            // end only this connection.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.request_timeout) => {}
    }
    Ok(())
}

/// A response with a plain-text body.
fn text(status: StatusCode, message: &str) -> hyper::Response<Full<Bytes>> {
    reply(
        status,
        CONTENT_TYPE_TEXT,
        format!("{message}\n").into_bytes(),
    )
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn from_witness(r: Response) -> hyper::Response<Full<Bytes>> {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(status, r.content_type, r.body)
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    if req.uri().path() != shared.path {
        return text(
            StatusCode::NOT_FOUND,
            &format!("not found; the witness endpoint is `POST {}`", shared.path),
        );
    }
    if req.method() != Method::POST {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "add-checkpoint takes only POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is larger than this witness's limit of {} bytes",
                shared.max_body
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body as u64) {
        return too_large();
    }
    let body = Limited::new(req.into_body(), shared.max_body);
    let body = match tokio::time::timeout(shared.request_timeout, body.collect()).await {
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => {
            return text(StatusCode::BAD_REQUEST, "cannot read the request body");
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let witness = shared.witness.clone();
    match tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await {
        Ok(r) => from_witness(r),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the witness failed while handling the request",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for ok in ["", "/w", "/a/b", "/witness.example"] {
            assert!(valid_prefix(ok), "{ok}");
        }
        for bad in ["/", "w", "/w/", "/a b", "/a?b", "/a#b", "/\u{e9}"] {
            assert!(!valid_prefix(bad), "{bad}");
        }
    }
}
