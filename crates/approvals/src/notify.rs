//! Telling approvers that a request waits: a webhook and a desktop notification.
//!
//! A notification is a courtesy, never a gate: [`notify_all`] tries every configured channel
//! and hands back one [`Outcome`] per channel for the caller to log; a failed notification is
//! logged, never fatal. Nothing here approves anything: the notice only says where to look
//! (`qwarden approvals show <id>`), and approving stays a signed act at the command line.
//!
//! # The webhook body: one JSON object for three kinds of receiver
//!
//! [`webhook_body`] builds a single JSON object that Slack incoming webhooks, Microsoft Teams
//! incoming webhook connectors and ntfy servers all take as it is; each reads its own fields
//! and ignores the others':
//!
//! | field | read by | holds |
//! | --- | --- | --- |
//! | `text` | Slack (required; the notification text when `blocks` are shown), Teams MessageCard (the card body) | summary, the command to review it, expiry, request id |
//! | `blocks` | Slack | a header (the title), the summary, the command, and the expiry and id |
//! | `@type`, `@context` | Teams | `"MessageCard"`, `"https://schema.org/extensions"` |
//! | `summary` | Teams MessageCard (the plain-text preview line) | the summary |
//! | `title` | Teams MessageCard, ntfy | the title |
//! | `message`, `tags`, `priority` | ntfy | plain-text body, `hourglass_flowing_sand`, 4 (high) |
//! | `topic` | ntfy | [`WebhookConfig::topic`], present only when configured |
//! | `qwarden` | any other receiver | `{event, request_id, expires}`, structured |
//!
//! Teams: two webhook kinds exist. The legacy "Incoming Webhook" connectors take the
//! MessageCard above. Microsoft's replacement, a Teams *Workflows* webhook ("When a Teams
//! webhook request is received"), does not read MessageCards: its stock template ("Send webhook
//! alerts to a channel") loops over `attachments`, each an Adaptive Card
//! (`{"contentType":"application/vnd.microsoft.card.adaptive","content":{…}}`). That shape is
//! deliberately **not** in this body: to Slack, `attachments` means its own legacy
//! attachments, and Slack refuses a message whose attachments carry keys it does not know
//! (`invalid_attachments`), so adding it would break Slack to serve Teams. For a Workflows
//! webhook, build the flow from the webhook trigger and post `triggerBody()?['title']` and
//! `triggerBody()?['text']` (or `qwarden.request_id`) to the channel.
//!
//! ntfy: ntfy reads a JSON body only when it is posted to the server's root URL
//! (`https://ntfy.sh/`, not `https://ntfy.sh/<topic>`, where the whole JSON would become the
//! message text), and then the `topic` field is required: configure the URL as the server root
//! and set [`WebhookConfig::topic`]. Other receivers get no `topic` key unless one is set.
//!
//! What an agent chose (its name, a backend's name) can be in the summary, so the text that
//! receivers render as markup is defused: `&`, `<` and `>` are escaped in the Slack and Teams
//! fields (no `<!channel>` ping, no `<url|label>` link), markdown links are broken up (`](`
//! becomes `] (`), and the desktop body is escaped for the notification server's markup. ntfy's
//! `message` is sent as plain text (no `markdown` flag).
//!
//! # Sending
//!
//! [`send_webhook`] is a small blocking HTTP/1.1 client: one `POST` with `Content-Type:
//! application/json`, `Content-Length` and `Connection: close`, over a plain TCP stream for
//! `http://` URLs or rustls (the `ring` provider, Mozilla's roots from `webpki-roots`) for
//! `https://`. Redirects are not followed; any status outside 2xx is an error. The timeout
//! bounds connecting, sending and reading the status together (name resolution is the system's
//! own and is not bounded by it).
//!
//! Webhook URLs are secrets (Slack's carries its token in the path, ntfy's topic is a password),
//! so no message, error or `Debug` output here shows more of one than `scheme://host[:port]`.
//! A plain `http://` URL sends that secret in clear: keep it to loopback or a lab network.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};

/// The longest Slack header block text (Slack refuses longer ones).
const SLACK_HEADER_MAX: usize = 150;
/// The longest Slack section block text (Slack refuses longer ones).
const SLACK_SECTION_MAX: usize = 3000;
/// The longest ntfy message kept as text (ntfy turns longer ones into an attachment).
const NTFY_MESSAGE_MAX: usize = 3500;
/// The most response-header bytes read before the answer is called malformed.
const HEADER_LIMIT: usize = 16 * 1024;
/// The most bytes of an error response's body quoted in the error.
const BODY_QUOTE_MAX: usize = 200;

/// One approval request waiting for approvers, in the words a notification shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The approval request's id.
    pub request_id: String,
    /// A short headline, e.g. `qwarden: approval needed`.
    pub title: String,
    /// What is asked, in human terms, e.g. `agent circuit-helper asks to run 1000 shots of a
    /// 2-qubit circuit on ibm:ibm_torino (cost est. 12 s)`.
    pub summary: String,
    /// The command that shows the request to an approver, e.g. `qwarden approvals show <id>`.
    pub approve_command: String,
    /// When the request expires (RFC 3339).
    pub expires: String,
}

/// Where the webhook goes.
///
/// Its `Debug` output shows only `scheme://host[:port]` of the URL and hides the topic, since
/// both are secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The URL posted to: a Slack or Teams incoming webhook URL, or an ntfy server's root URL
    /// (`https://ntfy.sh/`). `http://` and `https://` are supported; user credentials in the URL
    /// are not.
    pub url: String,
    /// The ntfy topic, sent as the body's `topic` field; `None` for other receivers.
    pub topic: Option<String>,
}

impl WebhookConfig {
    /// The URL's `scheme://host[:port]`, the only part of it fit for logs; a placeholder if the
    /// URL is not usable.
    #[must_use]
    pub fn endpoint(&self) -> String {
        Target::parse(&self.url)
            .map_or_else(|_| "(an unusable webhook URL)".to_owned(), |t| t.endpoint)
    }

    /// [`webhook_body`] with this configuration's `topic` (for ntfy), if one is set: the body
    /// [`send_webhook`] posts.
    #[must_use]
    pub fn body(&self, notice: &Notice) -> Value {
        let mut body = webhook_body(notice);
        if let (Some(topic), Some(map)) = (&self.topic, body.as_object_mut()) {
            map.insert("topic".to_owned(), Value::String(topic.clone()));
        }
        body
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.endpoint())
            .field("topic", &self.topic.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// Why a notification was not delivered. None of these is fatal to the request it is about.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The webhook URL cannot be used (the reason does not repeat the URL).
    #[error("the webhook URL is not usable: {0}")]
    BadUrl(String),
    /// No TCP connection to the webhook's host could be made.
    #[error(
        "could not connect to the webhook at {endpoint}: {reason}; check the webhook URL's host \
         and port, and that this machine can reach it"
    )]
    Connect {
        /// `scheme://host[:port]` of the webhook URL.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The TLS handshake failed, or TLS broke afterwards.
    #[error("TLS with the webhook at {endpoint} failed: {reason}")]
    Tls {
        /// `scheme://host[:port]` of the webhook URL.
        endpoint: String,
        /// What failed, and what to do about it.
        reason: String,
    },
    /// The webhook did not answer within the timeout.
    #[error(
        "the webhook at {endpoint} did not answer within {timeout:?}; check that the receiver is \
         up, or allow a longer timeout"
    )]
    Timeout {
        /// `scheme://host[:port]` of the webhook URL.
        endpoint: String,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// Sending the request or reading the answer failed.
    #[error("talking to the webhook at {endpoint} failed: {reason}")]
    Io {
        /// `scheme://host[:port]` of the webhook URL.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The answer was not an HTTP/1.x response.
    #[error(
        "the webhook at {endpoint} gave an answer that is not HTTP/1.x: {reason}; check that the \
         URL's scheme (http or https) and port are right"
    )]
    BadResponse {
        /// `scheme://host[:port]` of the webhook URL.
        endpoint: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The webhook answered with a status outside 2xx.
    #[error("the webhook at {endpoint} answered HTTP {status}{}; {}", quoted(body), status_hint(*status))]
    Status {
        /// `scheme://host[:port]` of the webhook URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body (printable characters only), e.g. Slack's
        /// `invalid_payload`; empty if there was none.
        body: String,
    },
    /// Desktop notifications cannot be shown here (no session bus, or no `notify-send`).
    #[error("desktop notifications are unavailable: {0}")]
    Unavailable(String),
    /// `notify-send` ran and failed.
    #[error("notify-send failed ({status}){}", quoted(stderr))]
    Desktop {
        /// How it exited.
        status: String,
        /// The start of what it wrote to stderr.
        stderr: String,
    },
}

/// `: "…"` for a non-empty quote, nothing otherwise.
fn quoted(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": \"{text}\"")
    }
}

/// What to do about a webhook's status.
fn status_hint(status: u16) -> &'static str {
    match status {
        300..=399 => {
            "redirects are not followed: configure the URL the receiver redirects to (often the \
             https:// form)"
        }
        401 | 403 => {
            "the receiver refused it: check that the webhook URL (or ntfy topic) is current and allowed to post"
        }
        404 | 410 => {
            "the receiver does not know this webhook: it may have been deleted or disabled; configure a current URL"
        }
        400 | 422 => {
            "the receiver refused the message: check that the URL is a Slack or Teams incoming \
             webhook, or an ntfy server's root URL with a topic configured"
        }
        413 => "the message is too large for the receiver: shorten the summary",
        429 => "the receiver is rate-limiting: the notification was dropped; it is not retried",
        500..=599 => "the receiver failed: the notification was dropped; it is not retried",
        _ => "the notification was not accepted",
    }
}

/// The JSON body for a webhook, built so that Slack, Teams (MessageCard) and ntfy each accept it
/// as it is (see the module docs for which field serves which receiver). It has no `topic`:
/// [`WebhookConfig::body`] adds the configured one, and is what [`send_webhook`] posts.
#[must_use]
pub fn webhook_body(notice: &Notice) -> Value {
    let summary = markup_safe(&notice.summary);
    let title = markup_safe(&notice.title);
    let command = code_safe(&notice.approve_command);
    let expires = markup_safe(&notice.expires);
    let id = markup_safe(&notice.request_id);
    let text = format!("{summary}\n\nReview it: `{command}`\nExpires {expires} · request {id}");
    json!({
        // Slack: `text` is required; with `blocks` it is the notification's text.
        "text": text,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(&notice.title, SLACK_HEADER_MAX)},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(&summary, SLACK_SECTION_MAX)},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(&format!("Review it: `{command}`"), SLACK_SECTION_MAX),
                },
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": truncate(&format!("Expires {expires} · request {id}"), SLACK_SECTION_MAX)},
                ],
            },
        ],
        // Teams incoming webhook connector: a MessageCard (with `title` and `text`).
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": notice.summary,
        "title": title,
        // ntfy (with `title`, and `topic` below).
        "message": truncate(
            &format!(
                "{}\n\nReview it: {}\nExpires {} · request {}",
                notice.summary, notice.approve_command, notice.expires, notice.request_id
            ),
            NTFY_MESSAGE_MAX,
        ),
        "tags": ["hourglass_flowing_sand"],
        "priority": 4,
        // Everyone else.
        "qwarden": {
            "event": "approval.waiting",
            "request_id": notice.request_id,
            "expires": notice.expires,
        },
    })
}

/// Posts [`webhook_body`] to `cfg.url` and returns the HTTP status (always 2xx; anything else is
/// [`NotifyError::Status`]). `timeout` bounds connecting, sending and reading the status
/// together. Errors show only `scheme://host[:port]` of the URL.
///
/// # Errors
///
/// [`NotifyError::BadUrl`] for a URL this cannot post to; [`NotifyError::Connect`],
/// [`NotifyError::Tls`], [`NotifyError::Timeout`], [`NotifyError::Io`] or
/// [`NotifyError::BadResponse`] when the exchange fails; [`NotifyError::Status`] for a status
/// outside 2xx (redirects are not followed).
pub fn send_webhook(
    cfg: &WebhookConfig,
    notice: &Notice,
    timeout: Duration,
) -> Result<u16, NotifyError> {
    let target = Target::parse(&cfg.url)?;
    let tls = if target.tls {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Some(client_config(roots)?)
    } else {
        None
    };
    post(&target, &cfg.body(notice), timeout, tls)
}

/// Shows `notice` as a desktop notification with `notify-send` (package `libnotify-bin`), where a
/// session bus exists (`DBUS_SESSION_BUS_ADDRESS` is set).
///
/// # Errors
///
/// [`NotifyError::Unavailable`] without a session bus or without `notify-send`;
/// [`NotifyError::Desktop`] when `notify-send` fails.
pub fn send_desktop(notice: &Notice) -> Result<(), NotifyError> {
    let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS");
    send_desktop_with(bus.as_deref(), OsStr::new("notify-send"), notice)
}

/// [`send_desktop`] with the session bus address and the program given.
fn send_desktop_with(
    bus: Option<&OsStr>,
    program: &OsStr,
    notice: &Notice,
) -> Result<(), NotifyError> {
    if bus.is_none_or(OsStr::is_empty) {
        return Err(NotifyError::Unavailable(
            "there is no session bus (DBUS_SESSION_BUS_ADDRESS is not set), as in an ssh or \
             headless session; use a webhook instead"
                .to_owned(),
        ));
    }
    let output = Command::new(program)
        .args(desktop_args(notice))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                NotifyError::Unavailable(
                    "notify-send is not installed (it comes with libnotify-bin)".to_owned(),
                )
            } else {
                NotifyError::Unavailable(format!("notify-send could not be started: {e}"))
            }
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NotifyError::Desktop {
            status: output.status.to_string(),
            stderr: printable(&output.stderr, BODY_QUOTE_MAX),
        })
    }
}

/// The arguments given to `notify-send`: the app name, then (after `--`, so that nothing in the
/// text is read as an option) the title and the body, escaped for the server's markup.
fn desktop_args(notice: &Notice) -> Vec<OsString> {
    let body = format!(
        "{}\nReview it: {}\nExpires {}",
        notice.summary, notice.approve_command, notice.expires
    );
    vec![
        OsString::from("--app-name=qwarden"),
        OsString::from("--"),
        OsString::from(&notice.title),
        OsString::from(escape_markup(&body)),
    ]
}

/// What became of one notification channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The channel: `"webhook"` or `"desktop"`.
    pub channel: &'static str,
    /// What was done, or why it failed (a [`NotifyError`]'s message).
    pub result: Result<String, String>,
}

/// How long [`notify_all`] waits for the webhook.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Tries every configured channel (the webhook if given, with [`WEBHOOK_TIMEOUT`]; the desktop if
/// `desktop`) and returns one [`Outcome`] per channel tried, for the caller to log. It never
/// fails and never panics: a failed notification is logged, never fatal.
#[must_use]
pub fn notify_all(webhook: Option<&WebhookConfig>, desktop: bool, notice: &Notice) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    if let Some(cfg) = webhook {
        let result = guarded(|| {
            send_webhook(cfg, notice, WEBHOOK_TIMEOUT)
                .map(|status| format!("the webhook at {} took it (HTTP {status})", cfg.endpoint()))
        });
        outcomes.push(Outcome {
            channel: "webhook",
            result,
        });
    }
    if desktop {
        let result =
            guarded(|| send_desktop(notice).map(|()| "shown as a desktop notification".to_owned()));
        outcomes.push(Outcome {
            channel: "desktop",
            result,
        });
    }
    outcomes
}

/// Runs `f`, turning its error (or, should one happen, a panic) into a message.
fn guarded(f: impl FnOnce() -> Result<String, NotifyError>) -> Result<String, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("the notification failed unexpectedly (an internal error)".to_owned()),
    }
}

// ---- text ----

/// `text` with `&`, `<` and `>` escaped (as Slack asks) and markdown links broken up.
fn markup_safe(text: &str) -> String {
    escape_markup(text).replace("](", "] (")
}

/// `text` made safe inside a Slack/markdown code span: markup-safe, with no backtick to end it.
fn code_safe(text: &str) -> String {
    markup_safe(text).replace('`', "'")
}

/// `text` with `&`, `<` and `>` escaped as entities.
fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `bytes` as text with control characters made spaces, trimmed and cut to `max` characters.
fn printable(bytes: &[u8], max: usize) -> String {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(text.trim(), max)
}

// ---- the URL ----

/// A webhook URL taken apart.
#[derive(Debug)]
struct Target {
    /// `https`.
    tls: bool,
    /// The host, IPv6 literals without brackets.
    host: String,
    port: u16,
    /// The request target: path and query.
    path: String,
    /// The `Host` header's value.
    host_header: String,
    /// `scheme://host[:port]`, for messages.
    endpoint: String,
}

impl Target {
    /// Takes `url` apart; errors never repeat it.
    fn parse(url: &str) -> Result<Target, NotifyError> {
        let bad = |reason: &str| NotifyError::BadUrl(reason.to_owned());
        if url.is_empty() {
            return Err(bad("it is empty"));
        }
        if url.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "it has spaces, control or non-ASCII characters; percent-encode them",
            ));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it does not start with http:// or https://"))?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (false, 80),
            "https" => (true, 443),
            _ => return Err(bad("only http:// and https:// webhook URLs are supported")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad(
                "it carries user credentials (user:password@), which are not supported; use a URL \
                 that authorizes by itself (for ntfy, an access token in the `auth` query parameter)",
            ));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let (host, after) = after
                .split_once(']')
                .ok_or_else(|| bad("its IPv6 address has no closing `]`"))?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(
                    "the address between `[` and `]` is not an IPv6 address",
                ));
            }
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("junk follows its IPv6 address"))?,
                    ),
                ),
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        let port = match port {
            None | Some("") => default_port,
            Some(port) => match port.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad("its port is not a number from 1 to 65535")),
            },
        };
        let host = host.to_ascii_lowercase();
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let host_header = if port == default_port {
            shown.clone()
        } else {
            format!("{shown}:{port}")
        };
        let path = if path.is_empty() {
            "/".to_owned()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Target {
            tls,
            endpoint: format!("{}://{host_header}", if tls { "https" } else { "http" }),
            host,
            port,
            path,
            host_header,
        })
    }
}

// ---- HTTP ----

/// The rustls client configuration trusting `roots` (HTTP/1.1 offered by ALPN).
fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, NotifyError> {
    // The provider is named rather than taken from the process default, so that nothing else
    // linked in changes or breaks it.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::Tls {
            endpoint: "(none yet)".to_owned(),
            reason: format!("cannot set up TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TCP stream whose every read and write is bounded by one deadline.
struct Deadline {
    tcp: TcpStream,
    deadline: Instant,
}

impl Deadline {
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the deadline passed",
            ))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.read(buf)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.tcp.set_write_timeout(Some(left))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Why an exchange failed, before it is put in terms of the endpoint.
enum Fail {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

/// Posts `body` to `target` (over TLS with `tls` for https) within `timeout`.
fn post(
    target: &Target,
    body: &Value,
    timeout: Duration,
    tls: Option<Arc<ClientConfig>>,
) -> Result<u16, NotifyError> {
    let endpoint = || target.endpoint.clone();
    let deadline = Instant::now() + timeout;
    let payload = serde_json::to_vec(body).map_err(|e| NotifyError::Io {
        endpoint: endpoint(),
        reason: format!("cannot encode the message: {e}"),
    })?;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: qwarden/{}\r\nAccept: */*\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        target.path,
        target.host_header,
        env!("CARGO_PKG_VERSION"),
        payload.len()
    )
    .into_bytes();
    request.extend_from_slice(&payload);

    let name = match tls {
        Some(_) => Some(server_name(&target.host)?),
        None => None,
    };
    let tcp = connect(target, deadline, timeout)?;
    let _ = tcp.set_nodelay(true);
    let stream = Deadline { tcp, deadline };
    let answer = match (tls, name) {
        (Some(config), Some(name)) => {
            let conn = ClientConnection::new(config, name).map_err(|e| NotifyError::Tls {
                endpoint: endpoint(),
                reason: format!("cannot start TLS: {e}"),
            })?;
            exchange(StreamOwned::new(conn, stream), &request)
        }
        _ => exchange(stream, &request),
    };
    match answer {
        Ok((status, _)) if (200..300).contains(&status) => Ok(status),
        Ok((status, body)) => Err(NotifyError::Status {
            endpoint: endpoint(),
            status,
            body,
        }),
        Err(Fail::Malformed(reason)) => Err(NotifyError::BadResponse {
            endpoint: endpoint(),
            reason,
        }),
        Err(Fail::Io(e)) => Err(describe_io(&e, target, timeout)),
    }
}

/// A TCP connection to `target`'s host, trying each of its addresses until the deadline.
fn connect(
    target: &Target,
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream, NotifyError> {
    let fail = |reason: String| NotifyError::Connect {
        endpoint: target.endpoint.clone(),
        reason,
    };
    let addrs = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| fail(format!("cannot resolve its host: {e}")))?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NotifyError::Timeout {
                endpoint: target.endpoint.clone(),
                timeout,
            });
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(tcp) => return Ok(tcp),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                last = Some(NotifyError::Timeout {
                    endpoint: target.endpoint.clone(),
                    timeout,
                });
            }
            Err(e) => last = Some(fail(e.to_string())),
        }
    }
    Err(last.unwrap_or_else(|| fail("its host has no address".to_owned())))
}

/// The name TLS checks the certificate against: an IP address, or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, NotifyError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|_| {
        NotifyError::BadUrl(format!("its host `{host}` is not a DNS name TLS can check"))
    })
}

/// Sends `request` and reads the answer's status (after any 1xx), with the start of the body
/// when the status is not 2xx.
fn exchange<S: Read + Write>(mut stream: S, request: &[u8]) -> Result<(u16, String), Fail> {
    stream.write_all(request)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    let mut budget = HEADER_LIMIT;
    loop {
        let line = read_line(&mut reader, &mut budget)?;
        let status = parse_status(&line)?;
        let mut content_length = None;
        let mut chunked = false;
        loop {
            let line = read_line(&mut reader, &mut budget)?;
            if line.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            if let Some((name, value)) = text.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.to_ascii_lowercase().contains("chunked");
                }
            }
        }
        match status {
            101 => {
                return Err(Fail::Malformed(
                    "it switched protocols (HTTP 101)".to_owned(),
                ));
            }
            100..=199 => continue,
            200..=299 => return Ok((status, String::new())),
            _ => return Ok((status, read_quote(&mut reader, content_length, chunked))),
        }
    }
}

/// One line of the response head without its line end; the bytes read count against `budget`.
fn read_line<R: BufRead>(reader: &mut R, budget: &mut usize) -> Result<Vec<u8>, Fail> {
    let mut line = Vec::new();
    let limit = u64::try_from(*budget).unwrap_or(u64::MAX);
    let n = reader.take(limit).read_until(b'\n', &mut line)?;
    *budget = budget.saturating_sub(n);
    if line.last() != Some(&b'\n') {
        return Err(Fail::Malformed(if n == 0 || *budget > 0 {
            "the connection closed before the response head ended".to_owned()
        } else {
            format!("its response head is longer than {HEADER_LIMIT} bytes")
        }));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// The status of an `HTTP/1.x NNN reason` line.
fn parse_status(line: &[u8]) -> Result<u16, Fail> {
    let text = String::from_utf8_lossy(line);
    let malformed = || {
        Fail::Malformed(format!(
            "its status line is `{}`",
            truncate(&printable(line, 80), 80)
        ))
    };
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(malformed());
    }
    match code.parse::<u16>() {
        Ok(status) if (100..600).contains(&status) => Ok(status),
        _ => Err(malformed()),
    }
}

/// The start of an error response's body, as printable text; whatever could be read.
fn read_quote<R: BufRead>(reader: &mut R, content_length: Option<usize>, chunked: bool) -> String {
    let cap = 4 * BODY_QUOTE_MAX;
    let want = if chunked {
        let mut size_line = Vec::new();
        if reader.take(64).read_until(b'\n', &mut size_line).is_err() {
            return String::new();
        }
        let size = String::from_utf8_lossy(&size_line);
        let size = size.split(';').next().unwrap_or_default().trim();
        usize::from_str_radix(size, 16).unwrap_or(0)
    } else {
        content_length.unwrap_or(cap)
    };
    let mut body = Vec::new();
    let limit = u64::try_from(want.min(cap)).unwrap_or(0);
    // A read error (a timeout, TLS closed without close_notify) keeps what came before it.
    let _ = reader.take(limit).read_to_end(&mut body);
    printable(&body, BODY_QUOTE_MAX)
}

/// An I/O failure in terms of the endpoint: TLS, timeout, or other.
fn describe_io(err: &io::Error, target: &Target, timeout: Duration) -> NotifyError {
    let endpoint = target.endpoint.clone();
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(tls) = tls {
        let reason = match tls {
            rustls::Error::InvalidCertificate(
                cert @ (CertificateError::UnknownIssuer | CertificateError::BadSignature),
            ) => format!(
                "its certificate is not trusted ({cert}): no CA in Mozilla's root store issued it; \
                 use a receiver with a publicly trusted certificate"
            ),
            rustls::Error::InvalidCertificate(
                cert @ (CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. }),
            ) => format!(
                "its certificate is for another name ({cert}): use the host name the certificate \
                 was made for in the webhook URL"
            ),
            rustls::Error::InvalidCertificate(
                cert @ (CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }),
            ) => format!(
                "its certificate is not valid now ({cert}): check the receiver's certificate and \
                 this machine's clock"
            ),
            rustls::Error::InvalidCertificate(cert) => {
                format!("its certificate was refused: {cert}")
            }
            other => format!(
                "{other}; check that it serves https (not plain http) on that port, with TLS 1.2 \
                 or 1.3"
            ),
        };
        return NotifyError::Tls { endpoint, reason };
    }
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            NotifyError::Timeout { endpoint, timeout }
        }
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
            if target.tls =>
        {
            NotifyError::Tls {
                endpoint,
                reason: format!(
                    "the connection broke ({err}); check that it serves https (not plain http) on \
                     that port"
                ),
            }
        }
        _ => NotifyError::Io {
            endpoint,
            reason: err.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use std::net::TcpListener;

    use rustls::ServerConfig;
    use rustls::pki_types::PrivateKeyDer;

    use super::*;

    fn notice() -> Notice {
        Notice {
            request_id: "apr-7".to_owned(),
            title: "qwarden: approval needed".to_owned(),
            summary: "agent <!channel> asks [here](https://evil.invalid) & more".to_owned(),
            approve_command: "qwarden approvals show apr-7".to_owned(),
            expires: "2030-01-01T00:00:00Z".to_owned(),
        }
    }

    #[test]
    fn urls_are_taken_apart_without_echoing_them() {
        let t = Target::parse("https://hooks.slack.com/services/T0/B0/SECRET").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("hooks.slack.com", 443, "/services/T0/B0/SECRET")
        );
        assert_eq!(t.endpoint, "https://hooks.slack.com");
        assert_eq!(t.host_header, "hooks.slack.com");

        let t = Target::parse("HTTP://[::1]:8080?auth=tok#frag").unwrap();
        assert!(!t.tls);
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert_eq!(t.path, "/?auth=tok");
        assert_eq!(t.endpoint, "http://[::1]:8080");

        let t = Target::parse("http://Ntfy.Example:80").unwrap();
        assert_eq!(
            (t.path.as_str(), t.host_header.as_str()),
            ("/", "ntfy.example")
        );

        for bad in [
            "",
            "ftp://host/SECRET",
            "hooks.slack.com/SECRET",
            "https://user:SECRET@host/",
            "https:///SECRET",
            "https://host:0/SECRET",
            "https://host:99999/SECRET",
            "https://host/SECRET\r\nX-Injected: 1",
            "https://host/SECRET with space",
            "https://[::1/SECRET",
            "https://[nothex]/SECRET",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(matches!(e, NotifyError::BadUrl(_)), "{bad}: {e:?}");
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn the_debug_form_of_a_config_hides_the_secrets() {
        let cfg = WebhookConfig {
            url: "https://hooks.slack.com/services/T0/B0/SECRET?x=TOKEN".to_owned(),
            topic: Some("TOPICSECRET".to_owned()),
        };
        let shown = format!("{cfg:?}");
        assert!(shown.contains("https://hooks.slack.com"), "{shown}");
        for secret in ["SECRET", "TOKEN", "services"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn markup_from_the_summary_is_defused() {
        let body = webhook_body(&notice());
        let text = body["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains("]("), "{text}");
        assert!(
            text.contains("&lt;!channel&gt;") && text.contains("&amp;"),
            "{text}"
        );
        assert!(text.contains("`qwarden approvals show apr-7`"), "{text}");
        // ntfy's message is plain text, as written.
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("agent <!channel> asks [here](https://evil.invalid) & more"));

        let args = desktop_args(&notice());
        assert_eq!(args[0], "--app-name=qwarden");
        assert_eq!(args[1], "--");
        assert_eq!(args[2], "qwarden: approval needed");
        let shown = args[3].to_str().unwrap();
        assert!(shown.starts_with("agent &lt;!channel&gt; asks"), "{shown}");
        assert!(shown.contains("qwarden approvals show apr-7"), "{shown}");
    }

    #[test]
    fn long_text_is_cut_to_what_slack_and_ntfy_take() {
        let mut n = notice();
        n.title = "t".repeat(400);
        n.summary = "s".repeat(10_000);
        let body = webhook_body(&n);
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), SLACK_HEADER_MAX);
        assert!(header.ends_with('…'));
        let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert_eq!(section.chars().count(), SLACK_SECTION_MAX);
        let message = body["message"].as_str().unwrap();
        assert_eq!(message.chars().count(), NTFY_MESSAGE_MAX);
    }

    #[test]
    fn status_lines_are_read_strictly() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content").ok(), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 404").ok(), Some(404));
        for bad in [
            &b"SSH-2.0-OpenSSH"[..],
            b"HTTP/2 200",
            b"HTTP/1.1 20 OK",
            b"HTTP/1.1 999 x",
            b"",
        ] {
            assert!(parse_status(bad).is_err());
        }
    }

    #[test]
    fn a_continue_is_skipped_and_an_error_body_is_quoted() {
        struct Canned(io::Cursor<Vec<u8>>, Vec<u8>);
        impl Read for Canned {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl Write for Canned {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.1.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let canned = |answer: &str| Canned(io::Cursor::new(answer.as_bytes().to_vec()), Vec::new());

        let ok = exchange(
            canned("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nok"),
            b"x",
        );
        assert_eq!(ok.ok(), Some((200, String::new())));

        let answer =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 15\r\n\r\ninvalid_payload and more";
        let (status, body) = exchange(canned(answer), b"x").ok().unwrap();
        assert_eq!((status, body.as_str()), (400, "invalid_payload"));

        let answer =
            "HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nno_text\r\n0\r\n\r\n";
        let (_, body) = exchange(canned(answer), b"x").ok().unwrap();
        assert_eq!(body, "no_text");

        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(HEADER_LIMIT));
        assert!(
            matches!(exchange(canned(&long), b"x"), Err(Fail::Malformed(m)) if m.contains("longer"))
        );
        assert!(matches!(
            exchange(canned("HTTP/1.1 200 OK\r\n"), b"x"),
            Err(Fail::Malformed(_))
        ));
    }

    #[test]
    fn without_a_session_bus_the_desktop_is_unavailable() {
        let e = send_desktop_with(None, OsStr::new("true"), &notice()).unwrap_err();
        assert!(
            matches!(&e, NotifyError::Unavailable(r) if r.contains("DBUS_SESSION_BUS_ADDRESS")),
            "{e}"
        );
        let e = send_desktop_with(Some(OsStr::new("")), OsStr::new("true"), &notice()).unwrap_err();
        assert!(matches!(e, NotifyError::Unavailable(_)), "{e}");
    }

    #[test]
    fn without_notify_send_the_desktop_is_unavailable() {
        let bus = Some(OsStr::new("unix:path=/run/user/1000/bus"));
        let e =
            send_desktop_with(bus, OsStr::new("/nonexistent/notify-send"), &notice()).unwrap_err();
        assert!(
            matches!(&e, NotifyError::Unavailable(r) if r.contains("libnotify-bin")),
            "{e}"
        );
    }

    #[test]
    fn notify_send_exiting_nonzero_is_an_error_and_zero_is_success() {
        let bus = Some(OsStr::new("unix:path=/run/user/1000/bus"));
        let e = send_desktop_with(bus, OsStr::new("false"), &notice()).unwrap_err();
        assert!(matches!(e, NotifyError::Desktop { .. }), "{e}");
        send_desktop_with(bus, OsStr::new("true"), &notice()).unwrap();
    }

    /// A CA-less self-signed certificate for 127.0.0.1, as a server config and a client root
    /// store trusting it.
    fn lab() -> (Arc<ServerConfig>, RootCertStore) {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(key.cert.der().clone()).unwrap();
        (Arc::new(server), roots)
    }

    #[test]
    fn https_to_a_trusted_server_posts_the_body() {
        let (server, roots) = lab();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let conn = rustls::ServerConnection::new(server).unwrap();
            let mut tls = StreamOwned::new(conn, tcp);
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Read until the whole body (its length is in the head) has come.
            loop {
                let n = tls.read(&mut buf).unwrap();
                assert!(n > 0, "the client closed early");
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if body.len() >= len {
                        break;
                    }
                }
            }
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            tls.conn.send_close_notify();
            tls.flush().unwrap();
            String::from_utf8(seen).unwrap()
        });
        let target = Target::parse(&format!("https://127.0.0.1:{port}/hook?k=v")).unwrap();
        let cfg = WebhookConfig {
            url: String::new(),
            topic: Some("approvals".to_owned()),
        };
        let body = cfg.body(&notice());
        let status = post(
            &target,
            &body,
            Duration::from_secs(30),
            Some(client_config(roots).unwrap()),
        )
        .unwrap();
        assert_eq!(status, 200);
        let seen = handle.join().unwrap();
        assert!(seen.starts_with("POST /hook?k=v HTTP/1.1\r\n"), "{seen}");
        let (_, sent) = seen.split_once("\r\n\r\n").unwrap();
        let sent: Value = serde_json::from_str(sent).unwrap();
        assert_eq!(sent, body);
    }
}
