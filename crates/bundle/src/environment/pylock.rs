//! Reading a `pylock.toml` for [`super::rebuild()`]: the keys the specification requires, the
//! types it gives them and which sources exclude which, checked once, with the key path of
//! anything wrong; and the parts of environment markers and version specifiers a rebuild
//! evaluates.
//!
//! Markers are evaluated only in the form `VARIABLE OP 'VALUE'` joined by `and` (what this crate
//! writes, and what most single-platform locks hold); specifiers only on release numbers
//! (`==3.11.*`, `>=3.9,<3.14`, `~=3.10`). Anything else is refused with its text, never
//! guessed: a lock whose conditions cannot be checked is not installed.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use toml::{Table, Value};

use super::EnvironmentError;
use crate::inventory::dist::normalize_name;

/// A lock, checked.
#[derive(Debug, Clone)]
pub(crate) struct Lock {
    /// `requires-python`.
    pub requires_python: Option<String>,
    /// `environments` (empty when absent).
    pub environments: Vec<String>,
    /// `[[packages]]`, in the lock's order.
    pub packages: Vec<Package>,
}

/// One `[[packages]]` entry.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: Option<String>,
    /// `marker`.
    pub marker: Option<String>,
    /// `requires-python`.
    pub requires_python: Option<String>,
    /// Where it comes from.
    pub source: Source,
    /// `[packages.tool.qwarden]`'s `not-installable` and `wheel`, only to explain a missing
    /// source.
    pub note: Option<String>,
}

/// A package's source, as far as an offline rebuild from wheels is concerned.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// `[[packages.wheels]]`, or a `[packages.archive]` whose file is a wheel.
    Wheels(Vec<LockedFile>),
    /// A source a rebuild from wheels cannot use: what it is.
    Unsupported(&'static str),
    /// None at all.
    Missing,
}

/// A file the lock names, with what to check it against.
#[derive(Debug, Clone)]
pub(crate) struct LockedFile {
    /// Its file name.
    pub name: String,
    /// `size`.
    pub size: Option<u64>,
    /// `hashes`, by lower-case algorithm.
    pub hashes: BTreeMap<String, String>,
}

fn lock_error(reason: String) -> EnvironmentError {
    EnvironmentError::Lock {
        reason,
        hint: "make the lock again with `environment::collect` (or fix the key named)".to_owned(),
    }
}

/// Parses and checks `text`.
pub(crate) fn parse(text: &str) -> Result<Lock, EnvironmentError> {
    let table: Table = toml::from_str(text).map_err(|e| lock_error(e.to_string()))?;
    let version = required_str(&table, "lock-version", "")?;
    let major = version.split('.').next().unwrap_or_default();
    if major != "1" {
        return Err(EnvironmentError::Lock {
            reason: format!(
                "`lock-version` is `{}`, and this version installs 1.x",
                version.escape_debug()
            ),
            hint: "install it with a tool that reads that version".to_owned(),
        });
    }
    required_str(&table, "created-by", "")?;
    let environments = string_array(&table, "environments", "")?;
    let requires_python = optional_str(&table, "requires-python", "")?;
    for key in ["extras", "dependency-groups", "default-groups"] {
        string_array(&table, key, "")?;
    }
    let Some(packages) = table.get("packages") else {
        return Err(lock_error("it has no `packages`".to_owned()));
    };
    let Value::Array(packages) = packages else {
        return Err(lock_error(
            "`packages` must be an array of tables".to_owned(),
        ));
    };
    let packages = packages
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Value::Table(t) => package(t, &format!("packages[{i}]")),
            _ => Err(lock_error(format!("`packages[{i}]` must be a table"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Lock {
        requires_python,
        environments,
        packages,
    })
}

fn package(t: &Table, at: &str) -> Result<Package, EnvironmentError> {
    let name = required_str(t, "name", at)?;
    if normalize_name(&name) != name {
        return Err(lock_error(format!(
            "`{at}.name` is `{}`, which is not a normalised name (`{}`)",
            name.escape_debug(),
            normalize_name(&name).escape_debug()
        )));
    }
    let vcs = optional_table(t, "vcs", at)?;
    let directory = optional_table(t, "directory", at)?;
    let archive = optional_table(t, "archive", at)?;
    let sdist = optional_table(t, "sdist", at)?;
    let wheels = match t.get("wheels") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, w)| match w {
                    Value::Table(w) => locked_file(w, &format!("{at}.wheels[{i}]"), true),
                    _ => Err(lock_error(format!("`{at}.wheels[{i}]` must be a table"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(lock_error(format!("`{at}.wheels` must be an array"))),
    };
    let trees = [vcs.is_some(), directory.is_some(), archive.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if trees > 1 || (trees == 1 && (sdist.is_some() || wheels.is_some())) {
        return Err(lock_error(format!(
            "`{at}` has more than one of `vcs`, `directory`, `archive` and `sdist`/`wheels`, which exclude each other"
        )));
    }
    if let Some(vcs) = vcs {
        required_str(vcs, "type", &format!("{at}.vcs"))?;
        required_str(vcs, "commit-id", &format!("{at}.vcs"))?;
        path_or_url(vcs, &format!("{at}.vcs"))?;
    }
    if let Some(directory) = directory {
        required_str(directory, "path", &format!("{at}.directory"))?;
    }
    let archive = archive
        .map(|a| locked_file(a, &format!("{at}.archive"), false))
        .transpose()?;
    if let Some(sdist) = sdist {
        locked_file(sdist, &format!("{at}.sdist"), false)?;
    }
    let source = match (wheels, archive) {
        (Some(w), _) if !w.is_empty() => Source::Wheels(w),
        (_, Some(a)) if a.name.ends_with(".whl") => Source::Wheels(vec![a]),
        (_, Some(_)) => Source::Unsupported("an archive that is not a wheel"),
        _ if vcs.is_some() => Source::Unsupported("a version control checkout"),
        _ if directory.is_some() => Source::Unsupported("a local source directory"),
        _ if sdist.is_some() => Source::Unsupported("an sdist only"),
        _ => Source::Missing,
    };
    let note = match t
        .get("tool")
        .and_then(|tool| tool.get("qwarden"))
        .and_then(Value::as_table)
    {
        Some(q) => {
            let text = |key: &str| q.get(key).and_then(Value::as_str).map(str::to_owned);
            match (text("not-installable"), text("wheel")) {
                (Some(reason), Some(wheel)) if !reason.contains(&wheel) => {
                    Some(format!("{reason}; it needs `{wheel}`"))
                }
                (Some(reason), _) => Some(reason),
                (None, Some(wheel)) => Some(format!("it needs `{wheel}`")),
                (None, None) => None,
            }
        }
        None => None,
    };
    Ok(Package {
        version: optional_str(t, "version", at)?,
        marker: optional_str(t, "marker", at)?,
        requires_python: optional_str(t, "requires-python", at)?,
        name,
        source,
        note,
    })
}

/// A wheel, archive or sdist table: `url` or `path`, `hashes` with at least one string value,
/// `size`; and its file name (`name`, else the last part of `path` or `url`).
fn locked_file(t: &Table, at: &str, wheel: bool) -> Result<LockedFile, EnvironmentError> {
    let (path, url) = path_or_url(t, at)?;
    let last = path
        .as_deref()
        .and_then(|p| p.rsplit('/').next().map(str::to_owned))
        .or_else(|| url.as_deref().and_then(super::lock::url_file_name));
    let name = match optional_str(t, "name", at)? {
        Some(name) => name,
        None => last.ok_or_else(|| lock_error(format!("`{at}` has no `name`")))?,
    };
    if wheel && !name.ends_with(".whl") {
        return Err(lock_error(format!(
            "`{at}.name` is `{}`, which is not a wheel file name",
            name.escape_debug()
        )));
    }
    let size = match t.get("size") {
        None => None,
        Some(Value::Integer(n)) => Some(
            u64::try_from(*n)
                .map_err(|_| lock_error(format!("`{at}.size` must not be negative")))?,
        ),
        Some(_) => return Err(lock_error(format!("`{at}.size` must be an integer"))),
    };
    let Some(Value::Table(hash_table)) = t.get("hashes") else {
        return Err(lock_error(format!(
            "`{at}.hashes` is required and must be a table (PEP 751 requires a hash for every file)"
        )));
    };
    let mut hashes = BTreeMap::new();
    for (algorithm, value) in hash_table {
        let Some(value) = value.as_str() else {
            return Err(lock_error(format!(
                "`{at}.hashes.{algorithm}` must be a string"
            )));
        };
        hashes.insert(algorithm.to_ascii_lowercase(), value.to_ascii_lowercase());
    }
    if hashes.is_empty() {
        return Err(lock_error(format!("`{at}.hashes` is empty")));
    }
    Ok(LockedFile { name, size, hashes })
}

fn path_or_url(t: &Table, at: &str) -> Result<(Option<String>, Option<String>), EnvironmentError> {
    let path = optional_str(t, "path", at)?;
    let url = optional_str(t, "url", at)?;
    if path.is_none() && url.is_none() {
        return Err(lock_error(format!("`{at}` needs `path` or `url`")));
    }
    Ok((path, url))
}

fn key_path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn optional_str(t: &Table, key: &str, at: &str) -> Result<Option<String>, EnvironmentError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(lock_error(format!(
            "`{}` must be a string",
            key_path(at, key)
        ))),
    }
}

fn required_str(t: &Table, key: &str, at: &str) -> Result<String, EnvironmentError> {
    optional_str(t, key, at)?
        .ok_or_else(|| lock_error(format!("`{}` is required", key_path(at, key))))
}

fn optional_table<'a>(
    t: &'a Table,
    key: &str,
    at: &str,
) -> Result<Option<&'a Table>, EnvironmentError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::Table(table)) => Ok(Some(table)),
        Some(_) => Err(lock_error(format!(
            "`{}` must be a table",
            key_path(at, key)
        ))),
    }
}

fn string_array(t: &Table, key: &str, at: &str) -> Result<Vec<String>, EnvironmentError> {
    let bad = || {
        lock_error(format!(
            "`{}` must be an array of strings",
            key_path(at, key)
        ))
    };
    match t.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// The marker variables of the interpreter a rebuild installs for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// Marker variable name to value (`sys_platform` to `linux`).
    pub values: BTreeMap<String, String>,
}

impl Target {
    /// `python_full_version`'s release numbers.
    pub fn python(&self) -> Option<Vec<u64>> {
        self.values
            .get("python_full_version")
            .and_then(|v| release(v, true))
    }
}

/// The variables whose values compare as versions.
const VERSION_VARIABLES: &[&str] = &[
    "python_version",
    "python_full_version",
    "implementation_version",
];

/// Whether `marker` holds for `target`; an error names what cannot be evaluated.
pub(crate) fn marker_holds(marker: &str, target: &Target) -> Result<bool, String> {
    let unsupported = |what: &str| {
        format!(
            "cannot evaluate the marker `{}`: {what} (a rebuild evaluates `VARIABLE OP 'VALUE'` joined by `and`)",
            marker.escape_debug()
        )
    };
    if marker.contains(['(', ')']) {
        return Err(unsupported("it has parentheses"));
    }
    let mut holds = true;
    for clause in split_and(marker) {
        let clause = clause.trim();
        if clause.split_whitespace().any(|w| w == "or") {
            return Err(unsupported("it has `or`"));
        }
        let op_at = clause
            .find(['=', '!', '<', '>', '~'])
            .ok_or_else(|| unsupported("a clause has no comparison"))?;
        let (variable, rest) = clause.split_at(op_at);
        let variable = variable.trim();
        let op_len = rest
            .bytes()
            .take_while(|b| matches!(b, b'=' | b'!' | b'<' | b'>' | b'~'))
            .count();
        let (op, value) = rest.split_at(op_len);
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .ok_or_else(|| unsupported("a value is not quoted after the variable"))?;
        let Some(actual) = target.values.get(variable) else {
            return Err(unsupported(&format!(
                "`{variable}` is not a variable it knows"
            )));
        };
        let result = if VERSION_VARIABLES.contains(&variable) {
            let actual = release(actual, true)
                .ok_or_else(|| unsupported("the interpreter's version is not numbers"))?;
            compare_version(&actual, op, value).map_err(|e| unsupported(&e))?
        } else {
            match op {
                "==" => actual == value,
                "!=" => actual != value,
                _ => return Err(unsupported(&format!("`{op}` on `{variable}`"))),
            }
        };
        holds &= result;
    }
    Ok(holds)
}

/// `marker` split at the word `and` outside quotes.
fn split_and(marker: &str) -> Vec<String> {
    let mut clauses = vec![String::new()];
    let mut quote = None;
    let words: Vec<&str> = marker.split(' ').collect();
    for word in words {
        for c in word.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                None if c == '\'' || c == '"' => quote = Some(c),
                _ => {}
            }
        }
        if word == "and" && quote.is_none() {
            clauses.push(String::new());
        } else if let Some(last) = clauses.last_mut() {
            last.push(' ');
            last.push_str(word);
        }
    }
    clauses
}

/// Whether the Python `version` satisfies every clause of the specifier set `spec`.
pub(crate) fn specifier_holds(spec: &str, version: &[u64]) -> Result<bool, String> {
    let mut holds = true;
    for clause in spec.split(',') {
        let clause = clause.trim();
        let op_len = clause
            .bytes()
            .take_while(|b| matches!(b, b'=' | b'!' | b'<' | b'>' | b'~'))
            .count();
        let (op, value) = clause.split_at(op_len);
        holds &= compare_version(version, op, value.trim()).map_err(|e| {
            format!(
                "cannot evaluate the version specifier `{}`: {e}",
                spec.escape_debug()
            )
        })?;
    }
    Ok(holds)
}

fn compare_version(actual: &[u64], op: &str, wanted: &str) -> Result<bool, String> {
    let (wanted, wildcard) = match wanted.strip_suffix(".*") {
        Some(prefix) => (prefix, true),
        None => (wanted, false),
    };
    let wanted = release(wanted, false)
        .ok_or_else(|| format!("`{wanted}` is not a release version (numbers and dots)"))?;
    let prefix_equal = || {
        wanted
            .iter()
            .enumerate()
            .all(|(i, w)| actual.get(i).copied().unwrap_or(0) == *w)
    };
    let order = cmp_release(actual, &wanted);
    Ok(match (op, wildcard) {
        ("==", true) => prefix_equal(),
        ("!=", true) => !prefix_equal(),
        ("==", false) => order == Ordering::Equal,
        ("!=", false) => order != Ordering::Equal,
        (">=", false) => order != Ordering::Less,
        ("<=", false) => order != Ordering::Greater,
        (">", false) => order == Ordering::Greater,
        ("<", false) => order == Ordering::Less,
        ("~=", false) if wanted.len() >= 2 => {
            let (head, _) = wanted.split_at(wanted.len().saturating_sub(1));
            order != Ordering::Less
                && head
                    .iter()
                    .enumerate()
                    .all(|(i, w)| actual.get(i).copied().unwrap_or(0) == *w)
        }
        _ => return Err(format!("`{op}` is not an operator it evaluates here")),
    })
}

fn cmp_release(a: &[u64], b: &[u64]) -> Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// The release numbers of a version. With `lenient`, what follows the numbers (`rc1`, `+local`)
/// is dropped (an interpreter's own version); without, the whole text must be numbers.
fn release(text: &str, lenient: bool) -> Option<Vec<u64>> {
    let mut parts = Vec::new();
    for part in text.split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || digits.len() > 9 {
            return None;
        }
        parts.push(digits.parse().ok()?);
        if digits.len() != part.len() {
            if lenient {
                break;
            }
            return None;
        }
    }
    (!parts.is_empty()).then_some(parts)
}
