//! Writing the `pylock.toml` of an installed environment (the rules are in the module
//! documentation of [`super`]).
//!
//! The TOML is written by hand so that its layout is fixed: keys in the order the specification
//! lists them, wheels as one-line inline tables as in its example, every string a basic string
//! with the escapes TOML 1.0 defines, so that TOML 1.0 readers (Python's `tomllib`) and 1.1
//! readers read the same thing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::installed::{DirectUrl, Installed};
use super::wheel::{self, FileDigest};

/// The largest wheel hashed for a lock, and by a rebuild.
pub(crate) const MAX_WHEEL_BYTES: u64 = 16 << 30;

/// Where a locked package comes from.
enum Source {
    Wheel {
        name: String,
        url: Option<String>,
        path: Option<String>,
        size: Option<u64>,
        hashes: BTreeMap<String, String>,
    },
    Archive {
        url: String,
        hashes: BTreeMap<String, String>,
        subdirectory: Option<String>,
    },
    Directory {
        path: String,
        editable: bool,
        subdirectory: Option<String>,
    },
    Vcs {
        kind: String,
        url: String,
        requested_revision: Option<String>,
        commit_id: String,
        subdirectory: Option<String>,
    },
    /// No source with a hash: why, and the wheel that would do.
    None {
        reason: String,
        wheel: Option<String>,
    },
}

/// The lock text of `dists` (sorted), for Python `python_version`, hashing wheels found in
/// `wheels`.
pub(crate) fn write(
    dists: &[Installed],
    python_version: Option<&str>,
    wheels: Option<&Path>,
) -> String {
    let mut out = String::new();
    line(&mut out, "lock-version", &basic("1.0"));
    if let Some(marker) = environment_marker() {
        line(&mut out, "environments", &format!("[{}]", basic(&marker)));
    }
    if let Some(spec) = python_version.and_then(requires_python) {
        line(&mut out, "requires-python", &basic(&spec));
    }
    line(&mut out, "created-by", &basic("qwarden"));
    if dists.is_empty() {
        // PEP 751 requires `packages` even when the environment holds none (a bare venv).
        line(&mut out, "packages", "[]");
    }
    let mut not_installable = Vec::new();
    let mut seen = BTreeMap::<&str, usize>::new();
    for dist in dists {
        let source = source(dist, wheels);
        if matches!(source, Source::None { .. }) {
            not_installable.push(dist.distribution.name.clone());
        }
        *seen.entry(dist.distribution.name.as_str()).or_default() += 1;
        package(&mut out, dist, &source);
    }
    let ambiguous: Vec<String> = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name.to_owned())
        .collect();
    not_installable.dedup();
    out.push_str("\n[tool.qwarden]\n");
    let installable = not_installable.is_empty() && ambiguous.is_empty();
    line(
        &mut out,
        "installable",
        if installable { "true" } else { "false" },
    );
    if !not_installable.is_empty() {
        line(&mut out, "not-installable", &array(&not_installable));
    }
    if !ambiguous.is_empty() {
        // Installed more than once (in two site directories): which one Python imports depends
        // on `sys.path`, so the lock lists every copy and an installer has to refuse it.
        line(&mut out, "ambiguous", &array(&ambiguous));
    }
    out
}

/// `==X.Y.*` from `X.Y[.Z...]`.
fn requires_python(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let major = parts.next().filter(|p| is_number(p))?;
    let minor = parts.next().map(|p| {
        p.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or_default()
    });
    let minor = minor.filter(|p| is_number(p))?;
    Some(format!("=={major}.{minor}.*"))
}

fn is_number(part: &str) -> bool {
    !part.is_empty() && part.len() <= 9 && part.bytes().all(|b| b.is_ascii_digit())
}

/// The marker for this operating system and machine, in the values Python gives
/// `sys.platform` and `platform.machine()`; `None` where the mapping is not known.
pub(crate) fn environment_marker() -> Option<String> {
    let (platform, machine) = platform_values()?;
    Some(match machine {
        Some(m) => format!("sys_platform == '{platform}' and platform_machine == '{m}'"),
        None => format!("sys_platform == '{platform}'"),
    })
}

fn platform_values() -> Option<(&'static str, Option<&'static str>)> {
    let platform = match std::env::consts::OS {
        "linux" => "linux",
        "macos" => "darwin",
        _ => return None,
    };
    let machine = match (std::env::consts::OS, std::env::consts::ARCH) {
        ("macos", "aarch64") => Some("arm64"),
        (_, "x86_64") => Some("x86_64"),
        ("linux", "aarch64") => Some("aarch64"),
        ("linux", "riscv64") => Some("riscv64"),
        ("linux", "s390x") => Some("s390x"),
        ("linux", "powerpc64") if cfg!(target_endian = "little") => Some("ppc64le"),
        _ => None,
    };
    Some((platform, machine))
}

fn source(dist: &Installed, wheels: Option<&Path>) -> Source {
    let d = &dist.distribution;
    match &dist.direct_url {
        Some(DirectUrl::Vcs {
            url,
            vcs,
            commit_id,
            requested_revision,
            subdirectory,
        }) => {
            return Source::Vcs {
                kind: vcs.clone(),
                url: url.clone(),
                requested_revision: requested_revision.clone(),
                commit_id: commit_id.clone(),
                subdirectory: subdirectory.clone(),
            };
        }
        Some(DirectUrl::Dir {
            url,
            editable,
            subdirectory,
        }) => {
            return match file_url_path(url) {
                Some(path) => Source::Directory {
                    path,
                    editable: *editable,
                    subdirectory: subdirectory.clone(),
                },
                None => Source::None {
                    reason: format!(
                        "installed from the directory URL `{url}`, which is not a local path"
                    ),
                    wheel: None,
                },
            };
        }
        Some(DirectUrl::Archive {
            url,
            hashes,
            subdirectory,
        }) if !hashes.is_empty() => {
            let file = url_file_name(url);
            return match file.filter(|f| wheel::parse_file_name(f).is_some()) {
                Some(name) => Source::Wheel {
                    name,
                    url: Some(url.clone()),
                    path: None,
                    size: None,
                    hashes: hashes.clone(),
                },
                None => Source::Archive {
                    url: url.clone(),
                    hashes: hashes.clone(),
                    subdirectory: subdirectory.clone(),
                },
            };
        }
        Some(DirectUrl::Archive { url, .. })
            if !url_file_name(url).is_some_and(|f| f.ends_with(".whl")) =>
        {
            return Source::None {
                reason: format!(
                    "installed from the archive `{url}`, whose hash the installer did not record"
                ),
                wheel: None,
            };
        }
        Some(DirectUrl::Archive { .. }) | None => {}
    }
    if dist.egg_info {
        return Source::None {
            reason:
                "an `.egg-info` installation, which records neither its wheel nor its files' hashes"
                    .to_owned(),
            wheel: None,
        };
    }
    let Some(file) = dist
        .wheel
        .as_ref()
        .and_then(|w| wheel::file_name(&d.name, &d.version, w))
    else {
        return Source::None {
            reason: "its `.dist-info` has no readable `WHEEL` file with tags to name its wheel"
                .to_owned(),
            wheel: None,
        };
    };
    let url = match &dist.direct_url {
        Some(DirectUrl::Archive { url, .. }) => Some(url.clone()),
        _ => None,
    };
    let Some(dir) = wheels else {
        return Source::None {
            reason: format!(
                "the installer kept no hash of the wheel `{file}`, and no wheel directory was given"
            ),
            wheel: Some(file),
        };
    };
    let found = dist
        .wheel
        .as_ref()
        .and_then(|w| wheel::find(dir, &d.name, &d.version, w, &file));
    let Some(path) = found else {
        return Source::None {
            reason: format!(
                "the installer kept no hash of the wheel `{file}`, and it is not in `{}`",
                dir.display()
            ),
            wheel: Some(file),
        };
    };
    match wheel::hash_file(&path, MAX_WHEEL_BYTES, &[]) {
        Ok(FileDigest { size, hashes }) => Source::Wheel {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(file),
            url,
            path: Some(path.to_string_lossy().into_owned()),
            size: Some(size),
            hashes,
        },
        Err(e) => Source::None {
            reason: format!("the wheel `{}` cannot be hashed: {e}", path.display()),
            wheel: Some(file),
        },
    }
}

/// The last path segment of a URL, without query or fragment.
pub(crate) fn url_file_name(url: &str) -> Option<String> {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = url.get(..end)?;
    let last = path.rsplit('/').next()?;
    let decoded = percent_decode(last)?;
    (!decoded.is_empty() && !decoded.contains('/')).then_some(decoded)
}

/// The local path of a `file://` URL (empty or `localhost` host only).
fn file_url_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    rest.starts_with('/')
        .then(|| percent_decode(rest))
        .flatten()
}

/// `%XX` decoded; `None` on a bad escape or text that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut it = text.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hi = char::from(it.next()?).to_digit(16)?;
            let lo = char::from(it.next()?).to_digit(16)?;
            bytes.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

fn package(out: &mut String, dist: &Installed, source: &Source) {
    let d = &dist.distribution;
    out.push_str("\n[[packages]]\n");
    line(out, "name", &basic(&d.name));
    let source_tree = matches!(source, Source::Directory { .. } | Source::Vcs { .. });
    if !source_tree {
        line(out, "version", &basic(&d.version));
    }
    match source {
        Source::Wheel {
            name,
            url,
            path,
            size,
            hashes,
        } => {
            let mut fields = vec![format!("name = {}", basic(name))];
            if let Some(url) = url {
                fields.push(format!("url = {}", basic(url)));
            }
            if let Some(path) = path {
                fields.push(format!("path = {}", basic(path)));
            }
            if let Some(size) = size {
                fields.push(format!("size = {size}"));
            }
            fields.push(format!("hashes = {}", inline_hashes(hashes)));
            let _ = writeln!(out, "wheels = [\n  {{{}}},\n]", fields.join(", "));
        }
        Source::Archive {
            url,
            hashes,
            subdirectory,
        } => {
            out.push_str("\n[packages.archive]\n");
            line(out, "url", &basic(url));
            line(out, "hashes", &inline_hashes(hashes));
            optional(out, "subdirectory", subdirectory.as_deref());
        }
        Source::Directory {
            path,
            editable,
            subdirectory,
        } => {
            out.push_str("\n[packages.directory]\n");
            line(out, "path", &basic(path));
            if *editable {
                line(out, "editable", "true");
            }
            optional(out, "subdirectory", subdirectory.as_deref());
        }
        Source::Vcs {
            kind,
            url,
            requested_revision,
            commit_id,
            subdirectory,
        } => {
            out.push_str("\n[packages.vcs]\n");
            line(out, "type", &basic(kind));
            line(out, "url", &basic(url));
            optional(out, "requested-revision", requested_revision.as_deref());
            line(out, "commit-id", &basic(commit_id));
            optional(out, "subdirectory", subdirectory.as_deref());
        }
        Source::None { .. } => {}
    }
    out.push_str("\n[packages.tool.qwarden]\n");
    line(out, "dist-info", &basic(&dist.dir_name));
    if source_tree {
        line(out, "installed-version", &basic(&d.version));
    }
    optional(out, "installer", d.installer.as_deref());
    optional(out, "record-sha256", d.record_sha256.as_deref());
    if let Source::None { reason, wheel } = source {
        line(out, "not-installable", &basic(reason));
        optional(out, "wheel", wheel.as_deref());
    }
}

fn line(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "{key} = {value}");
}

fn optional(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        line(out, key, &basic(value));
    }
}

fn inline_hashes(hashes: &BTreeMap<String, String>) -> String {
    let fields: Vec<String> = hashes
        .iter()
        .map(|(algorithm, value)| format!("{algorithm} = {}", basic(value)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| basic(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A TOML basic string: `"` and `\` escaped, and every control character (TOML forbids them
/// raw in basic strings, DEL included).
pub(crate) fn basic(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
