//! Notifications against real loopback receivers: an HTTP server on 127.0.0.1 checks what the
//! webhook posts; failing receivers give errors that name no secret; `notify_all` never fails.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use qwarden_approvals::notify::{
    Notice, NotifyError, WebhookConfig, notify_all, send_webhook, webhook_body,
};
use serde_json::Value;

/// Long enough never to fire on a slow machine; the tests do not wait on it.
const TIMEOUT: Duration = Duration::from_secs(30);

fn notice() -> Notice {
    Notice {
        request_id: "apr-0193".to_owned(),
        title: "qwarden: approval needed".to_owned(),
        summary: "agent circuit-helper asks to run 1000 shots of a 2-qubit circuit on \
                  ibm:ibm_torino (cost est. 12 s)"
            .to_owned(),
        approve_command: "qwarden approvals show apr-0193".to_owned(),
        expires: "2030-06-01T12:00:00Z".to_owned(),
    }
}

/// One request as the server read it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Reads one HTTP/1.1 request (head, then `Content-Length` bytes of body).
fn read_request(tcp: &TcpStream) -> Seen {
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(tcp);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut seen = Seen {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: Vec::new(),
    };
    let len: usize = seen.header("content-length").unwrap().parse().unwrap();
    seen.body = vec![0; len];
    reader.read_exact(&mut seen.body).unwrap();
    seen
}

/// An HTTP server on 127.0.0.1 that takes one request, answers `answer`, and hands back what it
/// read.
fn serve_once(answer: &'static str) -> (u16, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        let seen = read_request(&tcp);
        tcp.write_all(answer.as_bytes()).unwrap();
        seen
    });
    (port, handle)
}

/// A port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_webhook_posts_one_json_body_every_receiver_style_reads() {
    let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/services/T000/B000/XXXX?team=1"),
        topic: None,
    };
    assert_eq!(send_webhook(&cfg, &notice(), TIMEOUT).unwrap(), 200);
    let seen = server.join().unwrap();

    assert_eq!(
        seen.request_line,
        "POST /services/T000/B000/XXXX?team=1 HTTP/1.1"
    );
    assert_eq!(
        seen.header("host"),
        Some(format!("127.0.0.1:{port}").as_str())
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("connection"), Some("close"));
    let body = seen.json();
    assert_eq!(body, webhook_body(&notice()));

    // Slack: `text` (required), with the summary, the command and the expiry; `blocks`.
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("agent circuit-helper asks to run 1000 shots"),
        "{text}"
    );
    assert!(text.contains("qwarden approvals show apr-0193"), "{text}");
    assert!(text.contains("2030-06-01T12:00:00Z"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[0]["text"]["text"], "qwarden: approval needed");
    assert!(blocks.iter().all(|b| b["type"].is_string()));

    // Teams MessageCard.
    assert_eq!(body["@type"], "MessageCard");
    assert_eq!(body["@context"], "https://schema.org/extensions");
    assert_eq!(body["title"], "qwarden: approval needed");
    assert_eq!(body["summary"], notice().summary.as_str());

    // ntfy: title, message, tags, priority; no topic unless configured.
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(&notice().summary), "{message}");
    assert!(
        message.contains("qwarden approvals show apr-0193"),
        "{message}"
    );
    assert!(
        body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    assert_eq!(body["priority"], 4);
    assert!(body.get("topic").is_none());

    // Structured, for any other receiver.
    assert_eq!(body["qwarden"]["request_id"], "apr-0193");
    assert_eq!(body["qwarden"]["expires"], "2030-06-01T12:00:00Z");
}

#[test]
fn a_configured_ntfy_topic_is_sent_and_the_root_url_is_posted_to() {
    let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}");
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}"),
        topic: Some("qwarden-approvals-7f3a".to_owned()),
    };
    assert_eq!(send_webhook(&cfg, &notice(), TIMEOUT).unwrap(), 200);
    let seen = server.join().unwrap();
    assert_eq!(seen.request_line, "POST / HTTP/1.1");
    let body = seen.json();
    assert_eq!(body["topic"], "qwarden-approvals-7f3a");
    assert_eq!(body["title"], "qwarden: approval needed");
    assert_eq!(body, cfg.body(&notice()));
}

#[test]
fn any_2xx_is_success() {
    let (port, server) = serve_once("HTTP/1.1 204 No Content\r\n\r\n");
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/hook"),
        topic: None,
    };
    assert_eq!(send_webhook(&cfg, &notice(), TIMEOUT).unwrap(), 204);
    server.join().unwrap();
}

#[test]
fn a_server_error_is_an_error_that_keeps_the_url_secret() {
    let (port, server) =
        serve_once("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 13\r\n\r\nno_service!!!");
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/services/T000/B000/SECRETPATH?token=SECRETQUERY"),
        topic: Some("SECRETTOPIC".to_owned()),
    };
    let e = send_webhook(&cfg, &notice(), TIMEOUT).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(&e, NotifyError::Status { status: 500, body, .. } if body == "no_service!!!"),
        "{e:?}"
    );
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("http://127.0.0.1:{port}")),
        "{shown}"
    );
    assert!(shown.contains("500"), "{shown}");
    for secret in ["SECRET", "services", "token"] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(!format!("{e:?}").contains(secret), "{e:?}");
    }
}

#[test]
fn a_redirect_is_not_followed() {
    let (port, server) = serve_once(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.invalid/\r\nContent-Length: 0\r\n\r\n",
    );
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/hook"),
        topic: None,
    };
    let e = send_webhook(&cfg, &notice(), TIMEOUT).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(e, NotifyError::Status { status: 301, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("redirects are not followed"), "{e}");
}

#[test]
fn a_closed_port_is_an_error() {
    let port = closed_port();
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/SECRETPATH"),
        topic: None,
    };
    let e = send_webhook(&cfg, &notice(), TIMEOUT).unwrap_err();
    assert!(matches!(e, NotifyError::Connect { .. }), "{e:?}");
    assert!(!e.to_string().contains("SECRETPATH"), "{e}");
}

#[test]
fn a_receiver_that_never_answers_is_a_timeout() {
    // The kernel completes the connection; nobody reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/SECRETPATH"),
        topic: None,
    };
    let e = send_webhook(&cfg, &notice(), Duration::from_millis(200)).unwrap_err();
    assert!(matches!(e, NotifyError::Timeout { .. }), "{e:?}");
    assert!(!e.to_string().contains("SECRETPATH"), "{e}");
    drop(listener);

    // With no time at all, nothing is even tried.
    let e = send_webhook(&cfg, &notice(), Duration::ZERO).unwrap_err();
    assert!(matches!(e, NotifyError::Timeout { .. }), "{e:?}");
}

#[test]
fn an_answer_that_is_not_http_is_an_error() {
    let (port, server) = serve_once("SSH-2.0-OpenSSH_9.6\r\n");
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/"),
        topic: None,
    };
    let e = send_webhook(&cfg, &notice(), TIMEOUT).unwrap_err();
    server.join().unwrap();
    assert!(matches!(e, NotifyError::BadResponse { .. }), "{e:?}");
}

#[test]
fn an_unusable_url_is_refused_without_being_repeated() {
    for url in [
        "ftp://host/SECRET",
        "https://user:SECRET@hooks.example/",
        "not a url SECRET",
    ] {
        let cfg = WebhookConfig {
            url: url.to_owned(),
            topic: None,
        };
        let e = send_webhook(&cfg, &notice(), TIMEOUT).unwrap_err();
        assert!(matches!(e, NotifyError::BadUrl(_)), "{e:?}");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }
}

#[test]
fn https_to_a_server_with_an_untrusted_certificate_is_a_tls_error() {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // The client refuses the certificate, so no request ever arrives.
        let mut buf = [0u8; 64];
        tls.read(&mut buf).is_ok_and(|n| n > 0)
    });
    let cfg = WebhookConfig {
        url: format!("https://127.0.0.1:{port}/SECRETPATH"),
        topic: None,
    };
    let e = send_webhook(&cfg, &notice(), TIMEOUT).unwrap_err();
    assert!(
        matches!(&e, NotifyError::Tls { reason, .. } if reason.contains("not trusted")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("SECRETPATH"), "{e}");
    assert!(!server.join().unwrap(), "the server got a request");
}

#[test]
fn notify_all_reports_a_failing_webhook_and_does_not_fail() {
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{}/SECRETPATH", closed_port()),
        topic: None,
    };
    let outcomes = notify_all(Some(&cfg), false, &notice());
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].channel, "webhook");
    let e = outcomes[0].result.as_ref().unwrap_err();
    assert!(e.contains("could not connect"), "{e}");
    assert!(!e.contains("SECRETPATH"), "{e}");

    let bad = WebhookConfig {
        url: "gopher://nowhere".to_owned(),
        topic: None,
    };
    let outcomes = notify_all(Some(&bad), false, &notice());
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].result.is_err());

    assert!(notify_all(None, false, &notice()).is_empty());
}

#[test]
fn notify_all_reports_a_delivered_webhook() {
    let (port, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let cfg = WebhookConfig {
        url: format!("http://127.0.0.1:{port}/SECRETPATH"),
        topic: None,
    };
    let outcomes = notify_all(Some(&cfg), false, &notice());
    server.join().unwrap();
    assert_eq!(outcomes.len(), 1);
    let ok = outcomes[0].result.as_ref().unwrap();
    assert!(ok.contains("HTTP 200"), "{ok}");
    assert!(!ok.contains("SECRETPATH"), "{ok}");
}
