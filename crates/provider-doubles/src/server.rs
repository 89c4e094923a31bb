//! The HTTP/1.1 server both doubles run on: a thread with its own single-threaded tokio runtime
//! (as the egress proxy runs), listening on `127.0.0.1:0`, recording every request before the
//! double's handler answers it.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

/// The largest request body a double reads: far above any job the SDKs send (a QPY circuit of a
/// few thousand gates is tens of kilobytes). Larger bodies get the provider's `413`.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request as a double received it, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, such as `GET`.
    pub method: String,
    /// The path, without the query (percent-encoding kept as sent).
    pub path: String,
    /// The raw query string after `?`, if the request had one.
    pub query: Option<String>,
    /// The headers in the order received. Names are lower-case (HTTP/1 header names are
    /// case-insensitive and hyper normalises them).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The status code the double answered with.
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The value of query parameter `name` (the first, percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        crate::util::parse_form(query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The requests a double has received, oldest first. Cloning shares the log.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<RecordedRequest>>>);

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of every request recorded so far.
    pub fn entries(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    /// How many requests were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no request was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every recorded request.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, request: RecordedRequest) {
        self.lock().push(request);
    }
}

/// A double's answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, content_type: &'static str, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            content_type: "",
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// What a double does with a request.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers one request (its `status` field is not yet set).
    fn handle(&self, request: &RecordedRequest) -> Reply;
    /// Answers a request whose body exceeded [`MAX_BODY`].
    fn too_large(&self) -> Reply;
}

/// A running server. Dropping it stops the server and joins its thread.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: Arc<dyn Handler>, log: RequestLog, name: &str) -> io::Result<Server> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, mut stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        let accepted = tokio::select! {
                            _ = stopped.changed() => break,
                            accepted = listener.accept() => accepted,
                        };
                        let Ok((stream, _)) = accepted else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let handler = handler.clone();
                        let log = log.clone();
                        let service = service_fn(move |req| {
                            let handler = handler.clone();
                            let log = log.clone();
                            async move { Ok::<_, Infallible>(serve(&*handler, &log, req).await) }
                        });
                        tokio::spawn(async move {
                            let _ = http1::Builder::new()
                                .keep_alive(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
                // Dropping the runtime here ends every connection still open.
            })?;
        Ok(Server {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    handler: &dyn Handler,
    log: &RequestLog,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let mut recorded = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        status: 0,
    };
    let reply = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => {
            recorded.body = collected.to_bytes().to_vec();
            handler.handle(&recorded)
        }
        Err(_) => handler.too_large(),
    };
    recorded.status = reply.status;
    log.push(recorded);
    to_response(reply)
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if !reply.content_type.is_empty() {
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static(reply.content_type),
        );
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    response
}
