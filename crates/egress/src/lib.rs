//! qwarden's egress proxy: the only way out of an agent's sandbox.
//!
//! The sandbox's network namespace holds nothing but loopback, and on it three sockets that the
//! sandbox created and handed to the supervisor: the proxy (HTTP `CONNECT`, absolute-form HTTP
//! and SOCKS5 on one port, told apart by the first byte) and a DNS stub (UDP and TCP). This crate
//! serves them from the supervisor, on a thread of its own ([`Proxy::start`]).
//!
//! For every connection it decides the host by the session's [`Rules`] (deny lists first, then
//! the grant's allow list, default deny), resolves the name itself and pins the answer for the
//! session, refuses loopback, private, link-local, CGNAT and cloud-metadata addresses unless the
//! profile allows the range, connects to the exact address it checked, and, in a tunnel, checks
//! that the TLS server name or HTTP `Host` in the first bytes names the same host. The DNS stub
//! answers only names the rules allow, with stand-in addresses the proxy maps back to the names,
//! and never forwards a query. Every decision — host, port, address, verdict, deciding rule,
//! bytes each way, duration — goes to a [`Sink`].
//!
//! [`client_env`] gives the environment that points common tools at the proxy.

mod addr;
mod counting;
pub mod dns;
mod http;
mod record;
mod resolve;
mod rules;
mod server;
pub mod sniff;
pub mod socks;
mod target;
mod tunnel;

pub use addr::{AddressClass, AddressRefused, check as check_address, classify};
pub use record::{Decision, Sink, Via};
pub use rules::{HostVerdict, Rules};
pub use target::{Host, Target, TargetError};

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// The port the proxy listens on inside the sandbox (Squid's, which tools expect).
pub const PROXY_PORT: u16 = 3128;

/// The sockets the proxy serves, already bound and listening.
#[derive(Debug)]
pub struct Endpoints {
    /// The proxy.
    pub proxy: std::net::TcpListener,
    /// The DNS stub over UDP, when the sandbox has one.
    pub dns_udp: Option<std::net::UdpSocket>,
    /// The DNS stub over TCP.
    pub dns_tcp: Option<std::net::TcpListener>,
}

/// How long [`Proxy::stop`] waits for open connections to record how they ended.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Serves `endpoints` under `rules` on a new thread, reporting to `sink`.
    pub fn start(rules: Rules, endpoints: Endpoints, sink: Arc<dyn Sink>) -> io::Result<Proxy> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, shutdown) = watch::channel(false);
        let (alive, mut all_gone) = mpsc::channel::<()>(1);
        for l in [Some(&endpoints.proxy), endpoints.dns_tcp.as_ref()]
            .into_iter()
            .flatten()
        {
            l.set_nonblocking(true)?;
        }
        if let Some(u) = &endpoints.dns_udp {
            u.set_nonblocking(true)?;
        }
        let ctx = Arc::new(server::Ctx {
            rules,
            resolver: resolve::Resolver::default(),
            synthetic: Mutex::new(dns::SyntheticAddresses::default()),
            answered: Mutex::new(HashSet::new()),
            sink,
            shutdown,
            alive,
        });
        let thread = std::thread::Builder::new()
            .name("qwarden-egress".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut loops = Vec::new();
                    if let Ok(l) = tokio::net::TcpListener::from_std(endpoints.proxy) {
                        loops.push(tokio::spawn(server::serve_proxy(l, ctx.clone())));
                    }
                    if let Some(Ok(u)) = endpoints.dns_udp.map(tokio::net::UdpSocket::from_std) {
                        loops.push(tokio::spawn(server::serve_dns_udp(u, ctx.clone())));
                    }
                    if let Some(Ok(l)) = endpoints.dns_tcp.map(tokio::net::TcpListener::from_std) {
                        loops.push(tokio::spawn(server::serve_dns_tcp(l, ctx.clone())));
                    }
                    for l in loops {
                        let _ = l.await;
                    }
                    // The accept loops end at shutdown; the connections still open record how
                    // they ended and drop their `alive` handles.
                    drop(ctx);
                    let _ = tokio::time::timeout(STOP_GRACE, all_gone.recv()).await;
                });
            })?;
        Ok(Proxy {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops accepting, closes every open connection (recording each) and waits for the thread.
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

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The environment that sends common tools through the proxy at `127.0.0.1:port`: the
/// `*_PROXY` variables in both cases (curl, Python, Go, Rust's reqwest, git, pip, cargo), SOCKS
/// with remote resolution for `ALL_PROXY`, Java's system properties, Node's opt-in to the
/// variables, and the npm, pip, git and cargo settings that do not read them. `NO_PROXY` names
/// loopback only: services the agent runs inside its own sandbox.
pub fn client_env(port: u16) -> Vec<(String, String)> {
    let http = format!("http://127.0.0.1:{port}");
    let socks = format!("socks5h://127.0.0.1:{port}");
    let no_proxy = "localhost,127.0.0.1,::1".to_owned();
    let mut env = Vec::new();
    for (name, value) in [
        ("HTTP_PROXY", &http),
        ("HTTPS_PROXY", &http),
        ("ALL_PROXY", &socks),
        ("NO_PROXY", &no_proxy),
    ] {
        env.push((name.to_owned(), value.clone()));
        env.push((name.to_ascii_lowercase(), value.clone()));
    }
    env.extend([
        (
            "JAVA_TOOL_OPTIONS".to_owned(),
            format!(
                "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort={port} -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]"
            ),
        ),
        ("NODE_USE_ENV_PROXY".to_owned(), "1".to_owned()),
        ("npm_config_proxy".to_owned(), http.clone()),
        ("npm_config_https_proxy".to_owned(), http.clone()),
        ("PIP_PROXY".to_owned(), http.clone()),
        ("CARGO_HTTP_PROXY".to_owned(), http.clone()),
        // git reads http_proxy too, but a repository's own config could name another proxy:
        // command-line config (GIT_CONFIG_COUNT) takes precedence over it.
        ("GIT_CONFIG_COUNT".to_owned(), "1".to_owned()),
        ("GIT_CONFIG_KEY_0".to_owned(), "http.proxy".to_owned()),
        ("GIT_CONFIG_VALUE_0".to_owned(), http),
    ]);
    env
}
