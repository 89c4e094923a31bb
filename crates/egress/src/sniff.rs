//! What a tunnel's first bytes say about where they are going: the TLS ClientHello's server name
//! (read, never decrypted) or a plain HTTP request's `Host`.
//!
//! The proxy compares that name with the tunnel's target, so a CONNECT to an allowed host cannot
//! carry a TLS session or HTTP request meant for another one (domain fronting, or an agent
//! talking to a shared front end under an allowed name). Anything else (SSH, a server-speaks-first
//! protocol, garbage) is [`Sniffed::Opaque`]: there is no name in it to check.

/// The largest prefix read to find a name: a ClientHello with post-quantum key shares fits
/// comfortably, and so does any sane request head.
pub const MAX_SNIFF: usize = 32 * 1024;

/// What the first bytes of a tunnel are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// More bytes are needed to tell.
    NeedMore,
    /// A TLS ClientHello; the server name, if it has one (lower case, no trailing dot).
    Tls(Option<String>),
    /// A TLS ClientHello that offers Encrypted Client Hello: the outer name is the front end's,
    /// the real destination is hidden.
    TlsEch(Option<String>),
    /// An HTTP/1 request; its `Host`, if it has one.
    Http(Option<String>),
    /// Neither: no name to check.
    Opaque,
    /// It starts like TLS or HTTP but is malformed.
    Malformed(&'static str),
}

/// Looks at the first bytes a client sent into a tunnel.
pub fn sniff(buf: &[u8]) -> Sniffed {
    match buf.first() {
        None => Sniffed::NeedMore,
        Some(0x16) => client_hello(buf),
        // A method is any token, in any case, and servers skip empty lines before the request
        // line (RFC 9112 §2.2).
        Some(b) if is_tchar(*b) || *b == b'\r' || *b == b'\n' => http_request(buf),
        Some(_) => Sniffed::Opaque,
    }
}

/// A reader over a byte slice that never panics.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .map(|b| b.iter().fold(0, |a, x| (a << 8) | u16::from(*x)))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| b.iter().fold(0, |a, x| (a << 8) | usize::from(*x)))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Reassembles the handshake message from consecutive handshake records, then reads the
/// ClientHello's extensions.
fn client_hello(buf: &[u8]) -> Sniffed {
    let mut records = Reader(buf);
    let mut handshake = Vec::new();
    let mut needed: Option<usize> = None;
    loop {
        let Some(header) = records.take(5) else {
            return Sniffed::NeedMore;
        };
        let mut h = Reader(header);
        let (kind, major) = (h.u8(), h.u8());
        let _minor = h.u8();
        let len = h.u16().map_or(0, usize::from);
        if kind != Some(0x16) {
            return Sniffed::Malformed("a TLS handshake record was expected");
        }
        if major != Some(3) {
            return Sniffed::Malformed("not a TLS record (version is not 3.x)");
        }
        if len == 0 || len > 16384 + 2048 {
            return Sniffed::Malformed("TLS record length out of range");
        }
        let Some(fragment) = records.take(len) else {
            return Sniffed::NeedMore;
        };
        handshake.extend_from_slice(fragment);
        if needed.is_none() && handshake.len() >= 4 {
            let mut m = Reader(&handshake);
            if m.u8() != Some(1) {
                return Sniffed::Malformed("the first TLS handshake message is not a ClientHello");
            }
            needed = m.u24().map(|n| n + 4);
        }
        if let Some(n) = needed {
            if n > MAX_SNIFF {
                return Sniffed::Malformed("ClientHello larger than qwarden inspects");
            }
            if handshake.len() >= n {
                return parse_client_hello(handshake.get(4..n).unwrap_or_default());
            }
        }
    }
}

fn parse_client_hello(body: &[u8]) -> Sniffed {
    const BAD: Sniffed = Sniffed::Malformed("truncated or malformed ClientHello");
    let mut r = Reader(body);
    // legacy_version, random, session id, cipher suites, compression methods.
    if r.take(2 + 32).is_none() || r.vec8().is_none() || r.vec16().is_none() || r.vec8().is_none() {
        return BAD;
    }
    if r.0.is_empty() {
        // No extensions at all (TLS 1.0-era): no name.
        return Sniffed::Tls(None);
    }
    let Some(extensions) = r.vec16() else {
        return BAD;
    };
    let mut ext = Reader(extensions);
    let mut name = None;
    let mut ech = false;
    let mut seen_sni = false;
    while !ext.0.is_empty() {
        let (Some(kind), Some(data)) = (ext.u16(), ext.vec16()) else {
            return BAD;
        };
        match kind {
            0 => {
                if seen_sni {
                    return Sniffed::Malformed("two server_name extensions");
                }
                seen_sni = true;
                match server_name(data) {
                    Ok(n) => name = n,
                    Err(e) => return Sniffed::Malformed(e),
                }
            }
            0xfe0d => ech = true,
            _ => {}
        }
    }
    if ech {
        Sniffed::TlsEch(name)
    } else {
        Sniffed::Tls(name)
    }
}

/// The host_name entry of a server_name extension (RFC 6066 §3).
fn server_name(data: &[u8]) -> Result<Option<String>, &'static str> {
    let mut r = Reader(data);
    let list = r.vec16().ok_or("malformed server_name extension")?;
    let mut list = Reader(list);
    let mut found = None;
    while !list.0.is_empty() {
        let kind = list.u8().ok_or("malformed server_name entry")?;
        let name = list.vec16().ok_or("malformed server_name entry")?;
        if kind == 0 {
            if found.is_some() {
                return Err("two host names in server_name");
            }
            let text = std::str::from_utf8(name).map_err(|_| "server name is not ASCII")?;
            if text.is_empty() || !text.is_ascii() {
                return Err("server name is empty or not ASCII");
            }
            found = Some(normalize(text));
        }
    }
    Ok(found)
}

fn normalize(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// A plain HTTP request head: its `Host`, without the port.
fn http_request(buf: &[u8]) -> Sniffed {
    // Servers skip empty lines before the request line (RFC 9112 §2.2), some any CR or LF.
    let start = buf.iter().position(|b| *b != b'\r' && *b != b'\n');
    let head = buf.get(start.unwrap_or(buf.len())..).unwrap_or_default();
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Partial) if buf.len() < MAX_SNIFF => {
            // A method token and a space make it HTTP; without them it is something else.
            let token_end = head.iter().position(|b| !is_tchar(*b));
            match token_end {
                None => Sniffed::NeedMore,
                Some(i) if i > 0 && head.get(i) == Some(&b' ') => Sniffed::NeedMore,
                Some(_) => Sniffed::Opaque,
            }
        }
        Ok(httparse::Status::Partial) => Sniffed::Malformed("HTTP request head too large"),
        Ok(httparse::Status::Complete(_)) => {
            let mut hosts = req
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("host"));
            let host = hosts.next();
            if hosts.next().is_some() {
                return Sniffed::Malformed("two Host headers");
            }
            match host.map(|h| std::str::from_utf8(h.value)) {
                None => Sniffed::Http(None),
                Some(Ok(v)) => Sniffed::Http(Some(normalize(strip_port(v.trim())))),
                Some(Err(_)) => Sniffed::Malformed("Host header is not ASCII"),
            }
        }
        // An HTTP request line, then headers that cannot be read (too many, or lines a lenient
        // server would skip): its Host cannot be checked.
        Err(_) if req.version.is_some() => Sniffed::Malformed("unreadable HTTP request head"),
        Err(_) => Sniffed::Opaque,
    }
}

/// Whether `b` may be part of an HTTP token, such as a method (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `host` from `host:port` or `[v6]:port`.
pub(crate) fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// A minimal but well-formed TLS 1.2/1.3 ClientHello record for `sni`.
    pub(crate) fn client_hello_for(sni: Option<&str>, extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut exts = Vec::new();
        if let Some(name) = sni {
            let mut entry = vec![0u8];
            entry.extend((name.len() as u16).to_be_bytes());
            entry.extend(name.as_bytes());
            let mut data = (entry.len() as u16).to_be_bytes().to_vec();
            data.extend(entry);
            exts.extend(0u16.to_be_bytes());
            exts.extend((data.len() as u16).to_be_bytes());
            exts.extend(data);
        }
        for (kind, data) in extra {
            exts.extend(kind.to_be_bytes());
            exts.extend((data.len() as u16).to_be_bytes());
            exts.extend(data);
        }
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![1];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn finds_the_server_name() {
        let ch = client_hello_for(Some("API.Quantum.IBM.com."), &[(0x000a, vec![0, 2, 0, 29])]);
        assert_eq!(sniff(&ch), Sniffed::Tls(Some("api.quantum.ibm.com".into())));
        assert_eq!(sniff(&client_hello_for(None, &[])), Sniffed::Tls(None));
        for cut in [1, 4, 5, 20, ch.len() - 1] {
            assert_eq!(sniff(&ch[..cut]), Sniffed::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn reassembles_a_hello_split_over_records() {
        let ch = client_hello_for(Some("example.com"), &[(0x0033, vec![9; 1200])]);
        let hs = &ch[5..];
        let (a, b) = hs.split_at(100);
        let mut two = vec![0x16, 3, 1];
        two.extend((a.len() as u16).to_be_bytes());
        two.extend(a);
        two.extend([0x16, 3, 1]);
        two.extend((b.len() as u16).to_be_bytes());
        two.extend(b);
        assert_eq!(sniff(&two), Sniffed::Tls(Some("example.com".into())));
    }

    #[test]
    fn ech_is_told_apart() {
        let ch = client_hello_for(Some("cloudflare-ech.com"), &[(0xfe0d, vec![0; 8])]);
        assert_eq!(
            sniff(&ch),
            Sniffed::TlsEch(Some("cloudflare-ech.com".into()))
        );
    }

    #[test]
    fn malformed_hellos_are_not_names() {
        let mut ch = client_hello_for(Some("example.com"), &[]);
        ch[1] = 9;
        assert!(matches!(sniff(&ch), Sniffed::Malformed(_)));
        let mut ch = client_hello_for(Some("example.com"), &[]);
        ch[5] = 2;
        assert!(matches!(sniff(&ch), Sniffed::Malformed(_)));
        let twice = client_hello_for(Some("a.com"), &[(0, vec![0, 5, 0, 0, 2, b'b', b'c'])]);
        assert!(matches!(sniff(&twice), Sniffed::Malformed(_)));
        assert!(matches!(sniff(&[0x16, 3, 1, 0, 0]), Sniffed::Malformed(_)));
    }

    #[test]
    fn http_hosts() {
        assert_eq!(
            sniff(b"GET / HTTP/1.1\r\nHost: Example.com:8080\r\nAccept: */*\r\n\r\n"),
            Sniffed::Http(Some("example.com".into()))
        );
        assert_eq!(
            sniff(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            Sniffed::Http(Some("::1".into()))
        );
        assert_eq!(sniff(b"GET / HTTP/1.1\r\nHost: a"), Sniffed::NeedMore);
        assert_eq!(sniff(b"GET"), Sniffed::NeedMore);
        assert_eq!(sniff(b"GET / HTTP/1.0\r\n\r\n"), Sniffed::Http(None));
        assert!(matches!(
            sniff(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Sniffed::Malformed(_)
        ));
        assert_eq!(sniff(b"SSH-2.0-OpenSSH_9.6\r\n"), Sniffed::Opaque);
        assert_eq!(sniff(&[0, 1, 2]), Sniffed::Opaque);
    }
}
