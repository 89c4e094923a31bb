//! The OpenSSH allowed-signers file: parsing and the trust decision.
//!
//! The format is the one `ssh-keygen -Y verify -f` reads (ssh-keygen(1), section ALLOWED SIGNERS):
//!
//! ```text
//! principals [options] key-type base64-key [comment]
//! ```
//!
//! Differences from OpenSSH, all deliberate:
//! - the whole file is validated at load, so a typo on any line is an error, not only on the lines
//!   whose principals match the signer being checked;
//! - `valid-after` / `valid-before` are always read as UTC, with or without the trailing `Z`
//!   (ssh-keygen reads a time without `Z` in the local time zone, which makes trust depend on the
//!   machine's `TZ`); write the `Z` to get the same result from both tools;
//! - inside the principals field a double-quoted part must end the field (`"a b"`, `x"a b"`), where
//!   OpenSSH would silently start a new field.

use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, PublicKey, public::KeyData};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::SignatureError;

/// Key types that may appear in the key field (what `sshkey_read` accepts for plain keys).
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
    "ssh-dss",
];

/// The options this file format knows, for hints.
const OPTIONS_HINT: &str = "supported options are `cert-authority`, `namespaces=\"...\"`, \
                            `valid-after=\"YYYYMMDD[HHMM[SS]]Z\"` and `valid-before=\"...\"`";

/// The shape of a line, for hints.
const LINE_HINT: &str = "each line reads `principals [options] key-type base64-key`, for example \
                         `alice@example.com namespaces=\"qwarden-manifest\" ssh-ed25519 AAAAC3Nza...`";

/// The time formats `valid-after` / `valid-before` accept, for hints.
const TIME_HINT: &str = "use YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by `Z` \
                         (qwarden reads every time as UTC), for example `valid-before=\"20270101Z\"`";

/// A parsed allowed-signers file.
///
/// Each line names who may sign (a pattern-list of principals), with which key, in which
/// namespaces and when. [`verify`](super::verify) accepts a signature only if some line matches the
/// requested principal, the signature's key, the namespace and the verification time.
///
/// Lines marked `cert-authority` are parsed and kept, but they never vouch for a plain key, and
/// signatures made with OpenSSH certificates are not supported, so such lines currently trust
/// nothing.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    origin: PathBuf,
    entries: Vec<Entry>,
}

/// One non-comment line.
#[derive(Debug, Clone)]
struct Entry {
    /// 1-based line number in the file.
    line: usize,
    /// The principals pattern-list, quotes removed.
    principals: String,
    cert_authority: bool,
    /// The `namespaces=` pattern-list, if present.
    namespaces: Option<String>,
    /// `valid-after`, as Unix seconds.
    valid_after: Option<i64>,
    /// `valid-before`, as Unix seconds.
    valid_before: Option<i64>,
    key: PublicKey,
}

/// A syntax error inside one line: byte offset into the line, what is wrong, how to fix it.
struct Syntax {
    at: usize,
    problem: String,
    hint: String,
}

fn syntax(at: usize, problem: impl Into<String>, hint: impl Into<String>) -> Syntax {
    Syntax {
        at,
        problem: problem.into(),
        hint: hint.into(),
    }
}

impl AllowedSigners {
    /// Parses the text of an allowed-signers file.
    ///
    /// `origin` is only used in messages: a syntax error names `origin:line:column`, says what is
    /// wrong and how to write it instead. Comments (`#`) and blank lines are ignored; an empty file
    /// is valid and trusts nobody.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, SignatureError> {
        let mut entries = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            match parse_line(line, line_no) {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
                Err(err) => {
                    let column = line.get(..err.at).map_or(1, |s| s.chars().count() + 1);
                    return Err(SignatureError::AllowedSignersSyntax {
                        location: format!("{}:{line_no}:{column}", origin.display()),
                        problem: err.problem,
                        hint: err.hint,
                    });
                }
            }
        }
        Ok(Self {
            origin: origin.to_path_buf(),
            entries,
        })
    }

    /// Reads and parses an allowed-signers file.
    ///
    /// A file that cannot be read gives an error naming the path; syntax errors are as for
    /// [`AllowedSigners::parse`].
    pub fn load(path: &Path) -> Result<Self, SignatureError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SignatureError::AllowedSignersRead {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse(&text, path)
    }

    /// Number of entries (non-comment lines).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no entries, and so trusts nobody.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decides whether `key` may sign as `principal` in `namespace` at `now`.
    ///
    /// Mirrors `sshsig_check_allowed_keys`: the first line whose principals match (with no negated
    /// match), whose key is the signing key (and is not a `cert-authority`), whose `namespaces`
    /// match and whose validity window holds `now` (bounds inclusive) accepts. Otherwise the error
    /// describes the line that came closest.
    pub(super) fn authorize(
        &self,
        key: &KeyData,
        principal: &str,
        namespace: &str,
        now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        let now_ts = now.unix_timestamp();
        let fingerprint = fingerprint(key);
        let mut outside: Option<&Entry> = None;
        let mut wrong_namespace: Option<&Entry> = None;
        let mut negated: Option<&Entry> = None;
        let mut key_for_others: Option<&Entry> = None;
        let mut principal_other_key: Option<&Entry> = None;
        let mut as_authority: Option<&Entry> = None;

        for entry in &self.entries {
            let principal_match = match_list(principal, &entry.principals);
            let same_key = entry.key.key_data() == key;
            if !same_key || entry.cert_authority {
                if same_key {
                    as_authority.get_or_insert(entry);
                } else if principal_match == ListMatch::Yes {
                    principal_other_key.get_or_insert(entry);
                }
                continue;
            }
            match principal_match {
                ListMatch::Yes => {}
                ListMatch::Negated => {
                    negated.get_or_insert(entry);
                    continue;
                }
                ListMatch::No => {
                    key_for_others.get_or_insert(entry);
                    continue;
                }
            }
            if let Some(namespaces) = &entry.namespaces
                && match_list(namespace, namespaces) != ListMatch::Yes
            {
                wrong_namespace.get_or_insert(entry);
                continue;
            }
            let too_early = entry.valid_after.is_some_and(|after| now_ts < after);
            let too_late = entry.valid_before.is_some_and(|before| now_ts > before);
            if too_early || too_late {
                outside.get_or_insert(entry);
                continue;
            }
            return Ok(());
        }

        if let Some(entry) = outside {
            return Err(SignatureError::OutsideValidity {
                principal: principal.to_owned(),
                fingerprint,
                window: describe_window(entry.valid_after, entry.valid_before),
                now: format_time(now_ts),
                location: self.location(entry),
            });
        }
        if let Some(entry) = wrong_namespace {
            return Err(SignatureError::NamespaceNotAllowed {
                principal: principal.to_owned(),
                fingerprint,
                namespace: namespace.to_owned(),
                allowed: entry.namespaces.clone().unwrap_or_default(),
                location: self.location(entry),
            });
        }

        let suggestion = suggested_line(key, principal, namespace);
        let origin = self.origin.display();
        let hint = if let Some(entry) = negated {
            format!(
                "{} excludes `{principal}` with a `!` pattern; if that is a mistake, remove \
                 `{principal}` from the `!` patterns there",
                self.location(entry)
            )
        } else if let Some(entry) = key_for_others {
            format!(
                "that key is listed for `{}` ({}), not for `{principal}`; check the signer name you \
                 asked for, or if `{principal}` should be trusted with this key add `{suggestion}` \
                 to `{origin}`",
                entry.principals,
                self.location(entry)
            )
        } else if let Some(entry) = as_authority {
            format!(
                "{} lists that key as a `cert-authority`, which only vouches for certificates and \
                 not for signatures made with the key itself; to trust the key directly add \
                 `{suggestion}` to `{origin}`",
                self.location(entry)
            )
        } else if let Some(entry) = principal_other_key {
            format!(
                "`{principal}` is listed with a different key ({}); if `{principal}` has a new key, \
                 verify it with them out of band and add `{suggestion}` to `{origin}`",
                self.location(entry)
            )
        } else if self.entries.is_empty() {
            format!(
                "the allowed-signers file `{origin}` lists no signers; if this key should be \
                 trusted, add `{suggestion}` to it"
            )
        } else {
            format!(
                "neither `{principal}` nor the key appears in `{origin}`; if this key should be \
                 trusted, add `{suggestion}` to it"
            )
        };
        Err(SignatureError::UntrustedSigner {
            principal: principal.to_owned(),
            fingerprint,
            hint,
        })
    }

    fn location(&self, entry: &Entry) -> String {
        format!("{}:{}", self.origin.display(), entry.line)
    }
}

/// `SHA256:...` exactly as `ssh-keygen -l` prints it.
pub(super) fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// The allowed-signers line that would trust `key` for `principal` in `namespace`.
fn suggested_line(key: &KeyData, principal: &str, namespace: &str) -> String {
    let key_text = PublicKey::from(key.clone())
        .to_openssh()
        .unwrap_or_else(|_| format!("{} <base64 public key>", key.algorithm().as_str()));
    let principal = if principal.is_empty() || principal.contains([' ', '\t', '#', '"']) {
        format!("\"{}\"", principal.replace('"', ""))
    } else {
        principal.to_owned()
    };
    format!("{principal} namespaces=\"{namespace}\" {key_text}")
}

fn describe_window(after: Option<i64>, before: Option<i64>) -> String {
    match (after, before) {
        (Some(a), Some(b)) => format!("from {} to {}", format_time(a), format_time(b)),
        (Some(a), None) => format!("from {}", format_time(a)),
        (None, Some(b)) => format!("until {}", format_time(b)),
        (None, None) => "always".to_owned(),
    }
}

/// RFC 3339 in UTC, or the raw Unix time if out of range.
fn format_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("unix time {unix}"))
}

/// Parses an OpenSSH absolute time (`YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, optionally
/// followed by `Z`) into Unix seconds. The time is always taken as UTC.
pub(super) fn parse_time(text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z').unwrap_or(text);
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| -> Option<u32> { digits.get(range)?.parse().ok() };
    let year = i32::try_from(field(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(field(4..6)?).ok()?).ok()?;
    let day = u8::try_from(field(6..8)?).ok()?;
    let (hour, minute, second) = match digits.len() {
        8 => (0, 0, 0),
        12 => (field(8..10)?, field(10..12)?, 0),
        _ => (field(8..10)?, field(10..12)?, field(12..14)?),
    };
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Result of matching a name against an OpenSSH pattern-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListMatch {
    /// Some positive pattern matched and no negated one did.
    Yes,
    /// A negated (`!`) pattern matched: the list rejects the name.
    Negated,
    /// Nothing matched.
    No,
}

/// `match_pattern_list` from OpenSSH's match.c (case-sensitive): comma-separated patterns with
/// `*` and `?`; a matching `!pattern` rejects the name whatever else matches.
pub(super) fn match_list(name: &str, list: &str) -> ListMatch {
    let mut positive = false;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        if glob(name, pattern) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Yes
    } else {
        ListMatch::No
    }
}

/// Wildcard match of a whole string: `*` any run of characters, `?` exactly one.
/// Iterative with single-star backtracking, so hostile patterns cannot make it exponential.
fn glob(name: &str, pattern: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut n, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        match (pattern.get(p), name.get(n)) {
            (Some('*'), _) => {
                star = Some((p, n));
                p += 1;
            }
            (Some('?'), Some(_)) => {
                p += 1;
                n += 1;
            }
            (Some(pc), Some(nc)) if pc == nc => {
                p += 1;
                n += 1;
            }
            (None, None) => return true,
            _ => match star {
                Some((sp, sn)) if sn < name.len() => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                _ => return false,
            },
        }
    }
}

/// A cursor over one line, by byte offset.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn at_field_end(&self) -> bool {
        matches!(self.peek(), None | Some(' ' | '\t'))
    }

    /// The next whitespace-delimited word, without consuming it.
    fn peek_word(&self) -> &'a str {
        let rest = self.rest();
        rest.split([' ', '\t']).next().unwrap_or(rest)
    }

    fn take_word(&mut self) -> &'a str {
        let word = self.peek_word();
        self.pos += word.len();
        word
    }
}

#[derive(Default)]
struct Options {
    cert_authority: bool,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
}

fn parse_line(line: &str, line_no: usize) -> Result<Option<Entry>, Syntax> {
    let mut cur = Cursor { text: line, pos: 0 };
    cur.skip_space();
    if matches!(cur.peek(), None | Some('#')) {
        return Ok(None);
    }
    let principals = parse_principals(&mut cur)?;
    cur.skip_space();
    if cur.peek().is_none() {
        return Err(syntax(
            cur.pos,
            "missing key after the principals",
            LINE_HINT,
        ));
    }

    let word = cur.peek_word();
    let options = if KEY_TYPES.contains(&word) {
        Options::default()
    } else if is_certificate_type(word) {
        return Err(certificate_listed(cur.pos, word));
    } else if !word.contains('=')
        && ["ssh-", "ecdsa-", "sk-", "rsa-"]
            .iter()
            .any(|p| word.starts_with(p))
    {
        return Err(unknown_key_type(cur.pos, word));
    } else {
        let options = parse_options(&mut cur)?;
        cur.skip_space();
        if cur.peek().is_none() {
            return Err(syntax(cur.pos, "missing key after the options", LINE_HINT));
        }
        options
    };

    let type_at = cur.pos;
    let key_type = cur.take_word();
    if is_certificate_type(key_type) {
        return Err(certificate_listed(type_at, key_type));
    }
    if !KEY_TYPES.contains(&key_type) {
        return Err(unknown_key_type(type_at, key_type));
    }
    cur.skip_space();
    let data_at = cur.pos;
    let data = cur.take_word();
    if data.is_empty() {
        return Err(syntax(
            data_at,
            format!("missing the base64 key data after `{key_type}`"),
            "copy the whole line of the signer's `.pub` file",
        ));
    }
    let key = PublicKey::from_openssh(&format!("{key_type} {data}")).map_err(|_| {
        syntax(
            data_at,
            format!("the `{key_type}` key data is not valid"),
            "the base64 text is truncated, corrupt or belongs to another key type; copy the whole \
             line of the signer's `.pub` file",
        )
    })?;
    // Whatever follows the key is a comment.

    Ok(Some(Entry {
        line: line_no,
        principals,
        cert_authority: options.cert_authority,
        namespaces: options.namespaces,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
        key,
    }))
}

fn is_certificate_type(word: &str) -> bool {
    word.ends_with("-cert-v01@openssh.com")
}

fn certificate_listed(at: usize, word: &str) -> Syntax {
    syntax(
        at,
        format!("`{word}` is a certificate, which cannot be listed as a signer key"),
        "list the plain public key of the signer instead",
    )
}

fn unknown_key_type(at: usize, word: &str) -> Syntax {
    syntax(
        at,
        format!("unknown key type `{word}`"),
        format!("supported key types are {}", KEY_TYPES.join(", ")),
    )
}

/// The principals field: a pattern-list, possibly with a double-quoted part (`"a b"`).
fn parse_principals(cur: &mut Cursor<'_>) -> Result<String, Syntax> {
    let start = cur.pos;
    let mut out = String::new();
    while let Some(c) = cur.peek() {
        match c {
            ' ' | '\t' => break,
            '"' => {
                let quote_at = cur.pos;
                cur.bump();
                loop {
                    match cur.bump() {
                        None => {
                            return Err(syntax(
                                quote_at,
                                "unterminated `\"` in the principals field",
                                "close the quote, as in `\"first last@example.com\"`",
                            ));
                        }
                        Some('"') => break,
                        Some(c) => out.push(c),
                    }
                }
                if !cur.at_field_end() {
                    return Err(syntax(
                        cur.pos,
                        "unexpected text right after the closing `\"` of the principals field",
                        "put a space between the principals and the next field, or quote the \
                         whole principals field",
                    ));
                }
            }
            c => {
                out.push(c);
                cur.bump();
            }
        }
    }
    if out.is_empty() {
        return Err(syntax(
            start,
            "empty principals field",
            "name who may sign, for example `alice@example.com` or `*@example.com`",
        ));
    }
    Ok(out)
}

/// The options field: comma-separated, values in double quotes, names case-insensitive.
fn parse_options(cur: &mut Cursor<'_>) -> Result<Options, Syntax> {
    let options_at = cur.pos;
    let mut options = Options::default();
    loop {
        let name_at = cur.pos;
        while let Some(c) = cur.peek() {
            if matches!(c, '=' | ',' | ' ' | '\t' | '"') {
                break;
            }
            cur.bump();
        }
        let name = cur.text.get(name_at..cur.pos).unwrap_or("");
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "cert-authority" => {
                if cur.peek() == Some('=') {
                    return Err(syntax(
                        cur.pos,
                        "`cert-authority` takes no value",
                        "write just `cert-authority`",
                    ));
                }
                options.cert_authority = true;
            }
            "namespaces" | "valid-after" | "valid-before" => {
                if cur.peek() != Some('=') {
                    return Err(syntax(
                        cur.pos,
                        format!("option `{name}` needs a value"),
                        format!("write `{lower}=\"...\"`"),
                    ));
                }
                cur.bump();
                let value_at = cur.pos;
                let value = quoted_value(cur, &lower)?;
                let duplicate = || {
                    syntax(
                        name_at,
                        format!("option `{lower}` is given twice"),
                        "keep one; for several namespaces use one comma-separated list, as in \
                         `namespaces=\"qwarden-manifest,qwarden-approval\"`",
                    )
                };
                if lower == "namespaces" {
                    if options.namespaces.is_some() {
                        return Err(duplicate());
                    }
                    options.namespaces = Some(value);
                } else {
                    let Some(when) = parse_time(&value) else {
                        return Err(syntax(
                            value_at,
                            format!("invalid `{lower}` time `{value}`"),
                            TIME_HINT,
                        ));
                    };
                    let slot = if lower == "valid-after" {
                        &mut options.valid_after
                    } else {
                        &mut options.valid_before
                    };
                    if slot.is_some() {
                        return Err(duplicate());
                    }
                    *slot = Some(when);
                }
            }
            "" => {
                return Err(syntax(name_at, "empty option", OPTIONS_HINT));
            }
            _ => {
                return Err(syntax(
                    name_at,
                    format!("unknown option `{name}`"),
                    OPTIONS_HINT,
                ));
            }
        }
        match cur.peek() {
            None | Some(' ' | '\t') => break,
            Some(',') => {
                cur.bump();
                if cur.at_field_end() {
                    return Err(syntax(
                        cur.pos,
                        "the options end with a `,`",
                        "remove the trailing comma, or add the missing option",
                    ));
                }
            }
            Some(c) => {
                return Err(syntax(
                    cur.pos,
                    format!("unexpected `{c}` after option `{lower}`"),
                    "separate options with `,` and put no spaces between them except inside \
                     double quotes",
                ));
            }
        }
    }
    if let (Some(after), Some(before)) = (options.valid_after, options.valid_before)
        && before <= after
    {
        return Err(syntax(
            options_at,
            "`valid-before` is not later than `valid-after`",
            "swap the two times, or fix the one that is wrong",
        ));
    }
    Ok(options)
}

/// An option value: `"..."`, with `\"` for a literal quote (as OpenSSH's `opt_dequote`).
fn quoted_value(cur: &mut Cursor<'_>, name: &str) -> Result<String, Syntax> {
    if cur.peek() != Some('"') {
        return Err(syntax(
            cur.pos,
            format!("the value of `{name}` must be in double quotes"),
            format!(
                "write `{name}=\"{}\"`",
                cur.peek_word().split(',').next().unwrap_or("")
            ),
        ));
    }
    let quote_at = cur.pos;
    cur.bump();
    let mut value = String::new();
    loop {
        match cur.bump() {
            None => {
                return Err(syntax(
                    quote_at,
                    format!("unterminated `\"` in the value of `{name}`"),
                    "close the quote",
                ));
            }
            Some('"') => return Ok(value),
            Some('\\') if cur.peek() == Some('"') => {
                cur.bump();
                value.push('"');
            }
            Some(c) => value.push(c),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAX7eNex3PNwGWnCeQbiRl+my1RfAv72Z86EVBFWaGbh";
    const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBONDYpKvDy2GZ20sWdlEpVkZMGgBjmgBL1XNzpj0lVISGU4+39cz6QedsZZgU+IL2zyfvdMt8gAqSepIq0U6LJo=";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCijvzCdFF3/bwhnKcPZqgwQgULxtXq1hPJgHSV7iOMQPfeGmj6WLVI4qdRZMf5l/jX0D4EDC4Da2OJBmNTS/BSaLUplPDk+pCR57F6bWwZcF3q627h6JhPnuX2E8m2dLbrimb3CaU0li3sRzvGO2fdHOg4k/AeDO4WuDSlvaScqQ==";

    fn parse(text: &str) -> Result<AllowedSigners, SignatureError> {
        AllowedSigners::parse(text, Path::new("signers"))
    }

    /// The `location` of a syntax error, and its problem text.
    fn syntax_error(text: &str) -> (String, String) {
        match parse(text) {
            Err(SignatureError::AllowedSignersSyntax {
                location, problem, ..
            }) => (location, problem),
            other => panic!("expected a syntax error for {text:?}, got {other:?}"),
        }
    }

    fn key(line: &str) -> KeyData {
        PublicKey::from_openssh(line).unwrap().key_data().clone()
    }

    #[test]
    fn comments_blank_lines_and_key_comments_are_ignored() {
        let text = format!(
            "# team signers\n\n   \n  # indented comment\r\nalice@example.com {ED} alice's laptop\r\n\
             bob@example.com,carol@example.com {EC}\n{RSA_LINE}\n",
            RSA_LINE = format_args!("dave {RSA}")
        );
        let signers = parse(&text).unwrap();
        assert_eq!(signers.len(), 3);
        assert!(!signers.is_empty());
        let entry = &signers.entries[0];
        assert_eq!(entry.line, 5);
        assert_eq!(entry.principals, "alice@example.com");
        assert!(entry.namespaces.is_none() && !entry.cert_authority);
        assert_eq!(
            signers.entries[1].principals,
            "bob@example.com,carol@example.com"
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n\n").unwrap().is_empty());
    }

    #[test]
    fn options_are_parsed_case_insensitively_with_quoted_values() {
        let text = format!(
            "alice NAMESPACES=\"qwarden-manifest,qwarden approval\",Valid-After=\"20250101\",\
             valid-before=\"20260101120000Z\",cert-authority {ED}"
        );
        let entry = &parse(&text).unwrap().entries[0];
        assert_eq!(
            entry.namespaces.as_deref(),
            Some("qwarden-manifest,qwarden approval")
        );
        assert_eq!(entry.valid_after, Some(1_735_689_600));
        assert_eq!(entry.valid_before, Some(1_767_268_800));
        assert!(entry.cert_authority);
    }

    #[test]
    fn escaped_quote_inside_an_option_value() {
        let text = format!("alice namespaces=\"a\\\"b,c\" {ED}");
        let entry = &parse(&text).unwrap().entries[0];
        assert_eq!(entry.namespaces.as_deref(), Some("a\"b,c"));
    }

    #[test]
    fn quoted_principals() {
        let entry = &parse(&format!("\"alice smith\" {ED}")).unwrap().entries[0];
        assert_eq!(entry.principals, "alice smith");
        let entry = &parse(&format!("a\"lice b\" {ED}")).unwrap().entries[0];
        assert_eq!(entry.principals, "alice b");
        assert_eq!(syntax_error(&format!("\"alice {ED}")).0, "signers:1:1");
        assert_eq!(syntax_error(&format!("\"alice\"x {ED}")).0, "signers:1:8");
        assert_eq!(syntax_error(&format!("\"\" {ED}")).0, "signers:1:1");
    }

    #[test]
    fn syntax_errors_point_at_line_and_column() {
        let (loc, problem) = syntax_error(&format!("# c\nalice {ED}\nbob colour=\"red\" {ED}\n"));
        assert_eq!(loc, "signers:3:5");
        assert!(problem.contains("`colour`"), "{problem}");

        let (loc, problem) = syntax_error(&format!("alice namespaces=qwarden-manifest {ED}"));
        assert_eq!(loc, "signers:1:18");
        assert!(problem.contains("double quotes"), "{problem}");

        let (loc, _) = syntax_error(&format!("alice valid-after=\"2025-01-01\" {ED}"));
        assert_eq!(loc, "signers:1:19");

        let (loc, problem) = syntax_error(&format!("alice namespaces=\"a\",namespaces=\"b\" {ED}"));
        assert_eq!(loc, "signers:1:22");
        assert!(problem.contains("twice"), "{problem}");

        let (loc, _) = syntax_error(&format!("alice cert-authority, {ED}"));
        assert_eq!(loc, "signers:1:22");

        let (loc, problem) = syntax_error(&format!(
            "alice valid-after=\"20260101Z\",valid-before=\"20250101Z\" {ED}"
        ));
        assert_eq!(loc, "signers:1:7");
        assert!(problem.contains("valid-before"), "{problem}");

        let (loc, problem) = syntax_error("alice\n");
        assert_eq!(loc, "signers:1:6");
        assert!(problem.contains("missing key"), "{problem}");

        let (loc, _) = syntax_error("alice cert-authority\n");
        assert_eq!(loc, "signers:1:21");

        let (loc, problem) = syntax_error("alice ssh-ed25519\n");
        assert_eq!(loc, "signers:1:18");
        assert!(problem.contains("base64"), "{problem}");

        let (loc, problem) = syntax_error("alice ssh-ed2519 AAAA\n");
        assert_eq!(loc, "signers:1:7");
        assert!(problem.contains("unknown key type"), "{problem}");

        let (loc, problem) = syntax_error("alice ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAX7\n");
        assert_eq!(loc, "signers:1:19");
        assert!(problem.contains("not valid"), "{problem}");

        // The base64 says ed25519, the type field says ecdsa.
        let data = ED.split(' ').nth(1).unwrap();
        let (loc, _) = syntax_error(&format!("alice ecdsa-sha2-nistp256 {data}\n"));
        assert_eq!(loc, "signers:1:27");

        let (_, problem) = syntax_error("alice ssh-ed25519-cert-v01@openssh.com AAAA\n");
        assert!(problem.contains("certificate"), "{problem}");

        // Columns count characters, not bytes.
        let (loc, _) = syntax_error(&format!("jürgen bogus {ED}"));
        assert_eq!(loc, "signers:1:8");
    }

    #[test]
    fn time_formats() {
        let jan1 = datetime!(2025-01-01 0:00 UTC).unix_timestamp();
        assert_eq!(parse_time("20250101"), Some(jan1));
        assert_eq!(parse_time("20250101Z"), Some(jan1));
        assert_eq!(parse_time("202501010000"), Some(jan1));
        assert_eq!(parse_time("20250101000000Z"), Some(jan1));
        assert_eq!(
            parse_time("202512312359"),
            Some(datetime!(2025-12-31 23:59 UTC).unix_timestamp())
        );
        assert_eq!(
            parse_time("20240229235958Z"),
            Some(datetime!(2024-02-29 23:59:58 UTC).unix_timestamp())
        );
        for bad in [
            "",
            "Z",
            "2025",
            "2025010",
            "202501011",
            "2025010100",
            "20250101000",
            "2025010100000",
            "202501010000000",
            "20250101z",
            "2025-01-01",
            "20251301",
            "20250230",
            "20250132",
            "20250101240000",
            "20250101006000",
            "20250101000060",
            "+2025010",
            "20250101ZZ",
            "２０２５０１０１",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn pattern_lists() {
        assert_eq!(
            match_list("alice@example.com", "alice@example.com"),
            ListMatch::Yes
        );
        assert_eq!(
            match_list("alice@example.com", "bob,*@example.com"),
            ListMatch::Yes
        );
        assert_eq!(match_list("alice@example.com", "?lice@*"), ListMatch::Yes);
        assert_eq!(
            match_list("alice@example.com", "*@example.org"),
            ListMatch::No
        );
        assert_eq!(
            match_list("Alice@example.com", "alice@example.com"),
            ListMatch::No
        );
        assert_eq!(
            match_list("mallory@example.com", "*@example.com,!mallory@*"),
            ListMatch::Negated
        );
        assert_eq!(match_list("alice@example.com", "!mallory@*"), ListMatch::No);
        assert_eq!(match_list("a", "!a,a"), ListMatch::Negated);
        assert_eq!(match_list("abc", "a*c"), ListMatch::Yes);
        assert_eq!(match_list("ac", "a*?c"), ListMatch::No);
        assert_eq!(match_list("abbbc", "a**b*c"), ListMatch::Yes);
        assert_eq!(match_list("", "*"), ListMatch::Yes);
        assert_eq!(match_list("x", ""), ListMatch::No);
        assert_eq!(match_list("x", " x"), ListMatch::No);
        // Pathological pattern stays fast.
        let name = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert_eq!(match_list(&name, &pattern), ListMatch::No);
    }

    #[test]
    fn authorize_decisions() {
        let now = datetime!(2026-01-15 12:00 UTC);
        let ed = key(ED);
        let ns = "qwarden-manifest";
        let check =
            |text: &str, principal: &str| parse(text).unwrap().authorize(&ed, principal, ns, now);
        assert!(check(&format!("alice {ED}"), "alice").is_ok());
        assert!(
            check(
                &format!("bob {EC}\n*@example.com,!eve@* {ED}"),
                "a@example.com"
            )
            .is_ok()
        );
        assert!(matches!(
            check(&format!("*,!eve {ED}"), "eve"),
            Err(SignatureError::UntrustedSigner { hint, .. }) if hint.contains("`!`")
        ));
        assert!(matches!(
            check(&format!("alice {EC}"), "alice"),
            Err(SignatureError::UntrustedSigner { hint, .. }) if hint.contains("different key")
        ));
        assert!(matches!(
            check(&format!("alice cert-authority {ED}"), "alice"),
            Err(SignatureError::UntrustedSigner { hint, .. }) if hint.contains("cert-authority")
        ));
        assert!(matches!(
            check(
                &format!("alice namespaces=\"qwarden-approval\" {ED}"),
                "alice"
            ),
            Err(SignatureError::NamespaceNotAllowed { .. })
        ));
        assert!(matches!(
            check(
                &format!("alice namespaces=\"qwarden-*,!qwarden-manifest\" {ED}"),
                "alice"
            ),
            Err(SignatureError::NamespaceNotAllowed { .. })
        ));
        assert!(check(&format!("alice namespaces=\"qwarden-*\" {ED}"), "alice").is_ok());
        // Inclusive bounds, at second granularity.
        assert!(
            check(
                &format!("alice valid-after=\"20260115120000Z\" {ED}"),
                "alice"
            )
            .is_ok()
        );
        assert!(
            check(
                &format!("alice valid-before=\"20260115120000Z\" {ED}"),
                "alice"
            )
            .is_ok()
        );
        assert!(matches!(
            check(
                &format!("alice valid-after=\"20260115120001Z\" {ED}"),
                "alice"
            ),
            Err(SignatureError::OutsideValidity { .. })
        ));
        assert!(matches!(
            check(
                &format!("alice valid-before=\"20260115115959Z\" {ED}"),
                "alice"
            ),
            Err(SignatureError::OutsideValidity { .. })
        ));
        // A later line can still accept.
        assert!(
            check(
                &format!("alice valid-before=\"20250101\" {ED}\nalice namespaces=\"{ns}\" {ED}"),
                "alice"
            )
            .is_ok()
        );
        // Validity failure is reported in preference to the namespace.
        assert!(matches!(
            check(
                &format!(
                    "alice namespaces=\"other\" {ED}\nalice valid-before=\"20250101\" {ED}"
                ),
                "alice"
            ),
            Err(SignatureError::OutsideValidity { location, .. }) if location == "signers:2"
        ));
    }

    #[test]
    fn untrusted_hint_suggests_a_line_that_parses_and_trusts() {
        let ed = key(ED);
        let now = datetime!(2026-01-15 12:00 UTC);
        let err = parse("")
            .unwrap()
            .authorize(&ed, "alice smith", "qwarden-manifest", now);
        let Err(SignatureError::UntrustedSigner {
            hint, fingerprint, ..
        }) = err
        else {
            panic!("expected untrusted, got {err:?}");
        };
        assert_eq!(
            fingerprint,
            "SHA256:4TAcc21CllkxgTDROTz0Z5ixvuA1uMUIjwSZWoioKvc"
        );
        let line = hint.split('`').nth(3).unwrap();
        assert_eq!(
            line,
            format!("\"alice smith\" namespaces=\"qwarden-manifest\" {ED}")
        );
        let signers = parse(line).unwrap();
        assert!(
            signers
                .authorize(&ed, "alice smith", "qwarden-manifest", now)
                .is_ok()
        );
    }
}
