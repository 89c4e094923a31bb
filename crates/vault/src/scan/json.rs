//! A JSON reader that keeps byte positions: every string value is reported with where its
//! characters sit in the file, so that a secret found inside a JSON string (a saved Qiskit
//! account, a Nexus token file, a notebook cell) can be replaced in place and the file stays
//! valid JSON.
//!
//! `serde_json` parses into values and forgets where they came from, which is why this small
//! reader exists. It is strict RFC 8259 (plus the `NaN` / `Infinity` that Python's `json`
//! module writes), stops at [`MAX_DEPTH`] levels of nesting so hostile input cannot exhaust the
//! stack, and decodes a string only when asked ([`decode`]), so a large notebook is walked
//! without copying its images.

use std::ops::Range;

use zeroize::Zeroizing;

/// The deepest nesting read; deeper documents are refused (real credential files and
/// notebooks are a few levels deep).
pub(crate) const MAX_DEPTH: usize = 512;

/// The longest object key kept in a path; longer keys are cut (they never match a name the
/// scanner looks for).
const MAX_KEY: usize = 256;

/// One step of the path from the document's root to a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A member of an object, by its (decoded) key.
    Key(String),
    /// An element of an array, by its index.
    Index(usize),
}

impl Seg {
    /// The key, if this step is an object member.
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Seg::Key(k) => Some(k),
            Seg::Index(_) => None,
        }
    }
}

/// Why a document is not JSON, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// Byte offset of the problem.
    pub(crate) at: usize,
    /// What is wrong there.
    pub(crate) reason: &'static str,
}

/// Walks a document, calling `visit` with the path and the raw range (inside the quotes) of
/// every string value. Object keys are part of the path, not visited.
pub(crate) fn walk(
    buf: &[u8],
    visit: &mut dyn FnMut(&[Seg], Range<usize>),
) -> Result<(), JsonError> {
    let mut p = Parser {
        buf,
        pos: 0,
        path: Vec::new(),
        visit,
    };
    // A UTF-8 byte order mark is tolerated, as Python's `json` does when told the encoding.
    if buf.starts_with(&[0xef, 0xbb, 0xbf]) {
        p.pos = 3;
    }
    p.ws();
    p.value(0)?;
    p.ws();
    if p.pos != buf.len() {
        return Err(p.err("trailing characters after the document"));
    }
    Ok(())
}

/// Whether `buf` is one JSON document.
pub(crate) fn is_valid(buf: &[u8]) -> bool {
    walk(buf, &mut |_, _| {}).is_ok()
}

struct Parser<'a, 'v> {
    buf: &'a [u8],
    pos: usize,
    path: Vec<Seg>,
    visit: &'v mut dyn FnMut(&[Seg], Range<usize>),
}

impl Parser<'_, '_> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            at: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self
            .buf
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(lit))
        {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let range = self.string()?;
                (self.visit)(&self.path, range);
                Ok(())
            }
            Some(b't') if self.eat(b"true") => Ok(()),
            Some(b'f') if self.eat(b"false") => Ok(()),
            Some(b'n') if self.eat(b"null") => Ok(()),
            Some(b'N') if self.eat(b"NaN") => Ok(()),
            Some(b'I') if self.eat(b"Infinity") => Ok(()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end of the document")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), JsonError> {
        self.pos += 1;
        self.ws();
        if self.eat(b"}") {
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key_range = self.string()?;
            let key = decode(self.buf, key_range)
                .map(|d| key_text(&d.text))
                .ok_or_else(|| self.err("undecodable key"))?;
            self.ws();
            if !self.eat(b":") {
                return Err(self.err("expected `:` after a key"));
            }
            self.ws();
            self.path.push(Seg::Key(key));
            let inner = self.value(depth + 1);
            self.path.pop();
            inner?;
            self.ws();
            if self.eat(b",") {
                continue;
            }
            if self.eat(b"}") {
                return Ok(());
            }
            return Err(self.err("expected `,` or `}`"));
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        self.pos += 1;
        self.ws();
        if self.eat(b"]") {
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            self.ws();
            self.path.push(Seg::Index(index));
            let inner = self.value(depth + 1);
            self.path.pop();
            inner?;
            index = index.saturating_add(1);
            self.ws();
            if self.eat(b",") {
                continue;
            }
            if self.eat(b"]") {
                return Ok(());
            }
            return Err(self.err("expected `,` or `]`"));
        }
    }

    /// A string starting at the current `"`; returns the range inside the quotes.
    fn string(&mut self) -> Result<Range<usize>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(start..end);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1;
                        }
                        Some(b'u') => {
                            self.pos += 1;
                            let hex = self.buf.get(self.pos..self.pos + 4);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.err("bad \\u escape"));
                            }
                            self.pos += 4;
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                Some(0..=0x1f) => return Err(self.err("control character in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.eat(b"-Infinity") {
            return Ok(());
        }
        self.eat(b"-");
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("bad number")),
        }
        if self.eat(b".") {
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("bad number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("bad number"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }
}

/// A key as text for the path: lossy UTF-8, cut at [`MAX_KEY`] bytes.
fn key_text(bytes: &[u8]) -> String {
    let cut = bytes.get(..MAX_KEY).unwrap_or(bytes);
    String::from_utf8_lossy(cut).into_owned()
}

/// One escape sequence: where its output starts in the decoded text, how many bytes it
/// produced, and where it starts in the file and how many bytes it takes there.
#[derive(Debug, Clone, Copy)]
struct Escape {
    dec: usize,
    dec_len: usize,
    raw: usize,
    raw_len: usize,
}

/// A decoded JSON string and the way back from its bytes to the file's.
pub(crate) struct Decoded {
    /// The string's bytes (UTF-8, except where the file held invalid UTF-8, which is kept).
    pub(crate) text: Zeroizing<Vec<u8>>,
    /// Where the string's first byte is in the file.
    base: usize,
    escapes: Vec<Escape>,
}

impl Decoded {
    /// The file offset where decoded byte `d` starts (a byte produced by an escape maps to the
    /// start of the escape, so a range never splits one).
    pub(crate) fn raw_start(&self, d: usize) -> usize {
        self.raw_pos(d, false)
    }

    /// The file offset just after decoded bytes `..d` (an escape that `d` falls inside is
    /// included whole).
    pub(crate) fn raw_end(&self, d: usize) -> usize {
        self.raw_pos(d, true)
    }

    fn raw_pos(&self, d: usize, end: bool) -> usize {
        let i = self.escapes.partition_point(|e| e.dec <= d);
        let Some(e) = i.checked_sub(1).and_then(|i| self.escapes.get(i)) else {
            return self.base + d;
        };
        if d < e.dec + e.dec_len {
            if d == e.dec || !end {
                e.raw
            } else {
                e.raw + e.raw_len
            }
        } else {
            e.raw + e.raw_len + (d - e.dec - e.dec_len)
        }
    }
}

/// Decodes the string whose inside (between the quotes) is `range` of `buf`. `None` if the
/// range is out of bounds or holds a malformed escape.
pub(crate) fn decode(buf: &[u8], range: Range<usize>) -> Option<Decoded> {
    let raw = buf.get(range.clone())?;
    let mut text = Zeroizing::new(Vec::with_capacity(raw.len()));
    let mut escapes = Vec::new();
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b != b'\\' {
            text.push(b);
            i += 1;
            continue;
        }
        let dec = text.len();
        let (raw_len, ch) = match raw.get(i + 1)? {
            b'"' => (2, '"'),
            b'\\' => (2, '\\'),
            b'/' => (2, '/'),
            b'b' => (2, '\u{8}'),
            b'f' => (2, '\u{c}'),
            b'n' => (2, '\n'),
            b'r' => (2, '\r'),
            b't' => (2, '\t'),
            b'u' => {
                let hi = hex4(raw.get(i + 2..i + 6)?)?;
                if (0xd800..0xdc00).contains(&hi) {
                    // A high surrogate: a low one should follow as another `\u` escape.
                    let lo = raw
                        .get(i + 6..i + 8)
                        .filter(|p| *p == b"\\u")
                        .and_then(|_| raw.get(i + 8..i + 12))
                        .and_then(hex4)
                        .filter(|lo| (0xdc00..0xe000).contains(lo));
                    match lo {
                        Some(lo) => {
                            let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                            (12, char::from_u32(c).unwrap_or('\u{fffd}'))
                        }
                        None => (6, '\u{fffd}'),
                    }
                } else {
                    (6, char::from_u32(hi).unwrap_or('\u{fffd}'))
                }
            }
            _ => return None,
        };
        let mut utf8 = [0u8; 4];
        text.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        escapes.push(Escape {
            dec,
            dec_len: text.len() - dec,
            raw: range.start + i,
            raw_len,
        });
        i += raw_len;
    }
    Some(Decoded {
        text,
        base: range.start,
        escapes,
    })
}

fn hex4(h: &[u8]) -> Option<u32> {
    if h.len() != 4 {
        return None;
    }
    h.iter().try_fold(0u32, |acc, b| {
        let v = char::from(*b).to_digit(16)?;
        Some(acc * 16 + v)
    })
}

/// Escapes text for the inside of a JSON string.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    fn strings(doc: &str) -> Vec<(Vec<Seg>, String)> {
        let mut out = Vec::new();
        walk(doc.as_bytes(), &mut |path, r| {
            let d = decode(doc.as_bytes(), r).unwrap();
            out.push((path.to_vec(), String::from_utf8(d.text.to_vec()).unwrap()));
        })
        .unwrap();
        out
    }

    #[test]
    fn paths_and_values() {
        let got = strings(r#"{"a": {"b": ["x", 1, true, null, "y\"z"]}, "c": -1.5e3}"#);
        assert_eq!(
            got,
            vec![
                (
                    vec![Seg::Key("a".into()), Seg::Key("b".into()), Seg::Index(0)],
                    "x".to_owned()
                ),
                (
                    vec![Seg::Key("a".into()), Seg::Key("b".into()), Seg::Index(4)],
                    "y\"z".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "\"abc",
            "\"\\x\"",
            "01",
            "1.",
            "[1] 2",
            "{\"a\":}",
            "\"a\nb\"",
            "tru",
        ] {
            assert!(!is_valid(bad.as_bytes()), "{bad:?}");
        }
        for good in [
            "{}",
            "[]",
            "\"\"",
            "0",
            "-0.5E+2",
            "[NaN, Infinity, -Infinity]",
            "\u{feff}{}",
        ] {
            assert!(is_valid(good.as_bytes()), "{good:?}");
        }
    }

    #[test]
    fn depth_is_limited() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(
            walk(deep.as_bytes(), &mut |_, _| {}).unwrap_err().reason,
            "nested too deeply"
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(is_valid(ok.as_bytes()));
    }

    #[test]
    fn decoded_offsets_map_back_to_the_file() {
        let doc = r#"["a\"b\u00e9c\ud83d\ude00d\/e"]"#;
        let mut range = 0..0;
        walk(doc.as_bytes(), &mut |_, r| range = r).unwrap();
        let d = decode(doc.as_bytes(), range.clone()).unwrap();
        let text = std::str::from_utf8(&d.text).unwrap();
        assert_eq!(text, "a\"béc😀d/e");
        // Each decoded character maps to the raw bytes that produced it.
        let mut at = 0;
        for c in text.chars() {
            let end = at + c.len_utf8();
            let raw = &doc.as_bytes()[d.raw_start(at)..d.raw_end(end)];
            let back = decode(raw, 0..raw.len()).unwrap();
            assert_eq!(
                std::str::from_utf8(&back.text).unwrap(),
                c.to_string(),
                "{c}"
            );
            at = end;
        }
        assert_eq!(d.raw_end(d.text.len()), range.end);
        assert_eq!(d.raw_start(0), range.start);
    }

    #[test]
    fn escape_round_trips() {
        let s = "a\"b\\c\nd\u{1}é";
        let doc = format!("\"{}\"", escape(s));
        let d = decode(doc.as_bytes(), 1..doc.len() - 1).unwrap();
        assert_eq!(std::str::from_utf8(&d.text).unwrap(), s);
        assert!(is_valid(doc.as_bytes()));
    }
}
