//! The gateway's HTTP server: the listener the sandbox handed over, served on a thread of its
//! own, every request authenticated by the session's handle before anything else is read.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::watch;

use crate::admission::Admission;
use crate::native::{self, Native, Reply};
use crate::record::JobSink;

/// Checks the credential an agent presents.
pub trait Authenticator: Send + Sync {
    /// Whether `token` is a live handle of this session for `provider` (`None`: for any of the
    /// session's providers). The error says why not, for the agent; the implementation records
    /// the use or the refusal.
    fn check(&self, token: &str, provider: Option<&str>) -> Result<(), String>;
}

/// Everything the gateway serves with.
pub struct State {
    /// The session's job admission.
    pub admission: Admission,
    /// Handle checks.
    pub auth: Arc<dyn Authenticator>,
    /// Where jobs are recorded.
    pub sink: Arc<dyn JobSink>,
    /// The native API.
    pub native: Native,
    /// The IonQ v0.4-compatible API and its upstream adapter (`None`: no IonQ in this session).
    pub ionq: Option<crate::upstream::ionq::IonqUpstream>,
    /// The IBM Qiskit Runtime-compatible API and its upstream adapter (`None`: no IBM in this
    /// session).
    pub ibm: Option<crate::ibm::IbmApi>,
    /// Where jobs that need approval wait (`None`: they are refused).
    pub gate: Option<crate::gate::Gate>,
}

/// A running gateway.
pub struct Gateway {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    /// Serves `listener` (already listening) on a new thread.
    pub fn start(listener: std::net::TcpListener, state: Arc<State>) -> std::io::Result<Gateway> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, mut stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("qwarden-gateway".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        let accepted = tokio::select! {
                            a = listener.accept() => a,
                            _ = stopped.wait_for(|s| *s) => return,
                        };
                        let Ok((stream, _)) = accepted else {
                            tokio::task::yield_now().await;
                            continue;
                        };
                        let state = state.clone();
                        let mut stopped = stopped.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let state = state.clone();
                                async move { Ok::<_, Infallible>(handle(req, state).await) }
                            });
                            let conn = hyper::server::conn::http1::Builder::new()
                                .max_buf_size(64 * 1024)
                                .serve_connection(TokioIo::new(stream), service);
                            tokio::select! {
                                _ = conn => {}
                                _ = stopped.wait_for(|s| *s) => {}
                            }
                        });
                    }
                });
            })?;
        Ok(Gateway {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn respond(reply: Reply) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(reply.body.to_string())));
    *r.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn err(status: u16, code: &str, message: impl Into<String>) -> Response<Full<Bytes>> {
    respond(Reply {
        status,
        body: json!({"error": {"code": code, "message": message.into()}}),
    })
}

/// The bearer token of a request, if it has exactly one.
fn bearer(req: &Request<Incoming>) -> Option<String> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let v = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let v = v.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    // IonQ v0.4-compatible API: its own auth scheme (`apiKey`) and error shape.
    if crate::ionq::owns(&path) {
        return crate::ionq::handle(req, state).await;
    }
    // IBM Qiskit Runtime-compatible API and its IAM: their own auth and error shapes.
    if crate::ibm::owns(&path) {
        return crate::ibm::handle(req, state).await;
    }
    let Some(token) = bearer(&req) else {
        return err(
            401,
            "unauthenticated",
            "send the session's handle as `Authorization: Bearer $QWARDEN_GATEWAY_TOKEN`",
        );
    };
    match (req.method().clone(), path.as_str()) {
        (Method::POST, "/v1/jobs") => {
            let body = match Limited::new(req.into_body(), native::MAX_BODY)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return err(
                        413,
                        "too_large",
                        format!("the request body is over {} bytes", native::MAX_BODY),
                    );
                }
            };
            // The provider the job is for decides which handle must be presented.
            let provider = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("backend").and_then(|b| b.as_str()).map(str::to_owned))
                .and_then(|b| b.split_once(':').map(|(p, _)| p.to_owned()));
            if let Err(why) = state.auth.check(&token, provider.as_deref()) {
                return err(401, "unauthenticated", why);
            }
            let worker = state.clone();
            let reply = tokio::task::spawn_blocking(move || {
                worker.native.submit(
                    &body,
                    &worker.admission,
                    worker.sink.as_ref(),
                    worker.gate.as_ref(),
                )
            })
            .await;
            match reply {
                Ok(r) => respond(r),
                Err(_) => err(500, "internal", "the job's worker failed"),
            }
        }
        (Method::GET, p) if p.starts_with("/v1/jobs/") => {
            if let Err(why) = state.auth.check(&token, None) {
                return err(401, "unauthenticated", why);
            }
            let (worker, id) = (state.clone(), p.trim_start_matches("/v1/jobs/").to_owned());
            // A held job that is approved now runs now: on a blocking thread, like a submission.
            let reply = tokio::task::spawn_blocking(move || {
                worker.native.get(
                    &id,
                    &worker.admission,
                    worker.sink.as_ref(),
                    worker.gate.as_ref(),
                )
            })
            .await;
            match reply {
                Ok(r) => respond(r),
                Err(_) => err(500, "internal", "the job's worker failed"),
            }
        }
        _ => {
            if let Err(why) = state.auth.check(&token, None) {
                return err(401, "unauthenticated", why);
            }
            err(404, "not_found", format!("no endpoint {path}"))
        }
    }
}
