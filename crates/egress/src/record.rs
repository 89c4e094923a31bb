//! What the proxy reports: one [`Decision`] per connection, forwarded request or DNS answer.

use std::net::IpAddr;
use std::time::Duration;

/// How the sandbox asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `CONNECT host:port` (a tunnel).
    HttpConnect,
    /// An absolute-form request (`GET http://host/path`), forwarded.
    HttpForward,
    /// SOCKS5 `CONNECT`.
    Socks5,
    /// A query to the DNS stub over UDP.
    DnsUdp,
    /// A query to the DNS stub over TCP.
    DnsTcp,
}

impl Via {
    /// The name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::HttpConnect => "http-connect",
            Via::HttpForward => "http-forward",
            Via::Socks5 => "socks5",
            Via::DnsUdp => "dns-udp",
            Via::DnsTcp => "dns-tcp",
        }
    }

    /// The protocol the decision was about: `tcp` for tunnels, `http` for forwarded requests,
    /// `dns` for lookups.
    pub fn protocol(self) -> &'static str {
        match self {
            Via::HttpConnect | Via::Socks5 => "tcp",
            Via::HttpForward => "http",
            Via::DnsUdp | Via::DnsTcp => "dns",
        }
    }
}

/// One egress decision and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The host asked for (a name, or an address literal).
    pub host: String,
    /// The port (53 for DNS).
    pub port: u16,
    /// The address connected to, or the one refused.
    pub address: Option<IpAddr>,
    /// How the sandbox asked.
    pub via: Via,
    /// Whether it was allowed.
    pub allowed: bool,
    /// The rule that decided (`allow *.example.com`, `default deny`,
    /// `address 127.0.0.1 is loopback`, `tls server name evil.example differs from the target`…).
    pub rule: String,
    /// Bytes from the sandbox to the destination.
    pub bytes_up: u64,
    /// Bytes from the destination to the sandbox.
    pub bytes_down: u64,
    /// From the decision to the end of the connection.
    pub duration: Duration,
    /// The TLS server name the client sent, if it sent one.
    pub sni: Option<String>,
    /// For a forwarded request: the method and path (without the query).
    pub request: Option<String>,
    /// What the sandbox named when it was not the host itself (an address the DNS stub handed
    /// out stands for its name).
    pub asked_as: Option<String>,
    /// Why an allowed connection did not happen or ended early (resolution or connect failure,
    /// the session ending).
    pub error: Option<String>,
}

impl Decision {
    pub(crate) fn new(host: impl Into<String>, port: u16, via: Via) -> Decision {
        Decision {
            host: host.into(),
            port,
            address: None,
            via,
            allowed: false,
            rule: String::new(),
            bytes_up: 0,
            bytes_down: 0,
            duration: Duration::ZERO,
            sni: None,
            request: None,
            asked_as: None,
            error: None,
        }
    }
}

/// Where decisions go (the session records them in the ledger). Called from the proxy's thread:
/// it may block briefly (back-pressure from the recorder), never for long.
pub trait Sink: Send + Sync {
    /// Records one decision.
    fn record(&self, decision: Decision);
}
