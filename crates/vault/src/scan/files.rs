//! Which files the scanner reads and how each kind is read: saved Qiskit accounts and Nexus
//! token files by their JSON structure, notebooks cell by cell, INI files by section, scripts
//! and `.env` files line by line. [`scan_content`] is the one entry point for a buffer, used by
//! the walker and by the fuzz target.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secret::{Provider, Secret};

use super::detect::{Hints, KeyClass, key_class, strong, weak};
use super::finding::{CellLocation, Encoding, Finding, FindingKind, preview};
use super::json::{self, Decoded, Seg};
use super::text::{FileCtx, Flavor, Hit, first_of_overlapping, scan_text};

/// How a file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// `~/.qiskit/qiskit-ibm.json`, as `QiskitRuntimeService.save_account` writes it: named
    /// accounts, each with a `token`.
    QiskitAccounts,
    /// The legacy `~/.qiskit/qiskitrc` (INI, `[ibmq]` with `token = …`).
    Qiskitrc,
    /// `~/.aws/credentials` or `~/.aws/config` (INI, one section per profile).
    AwsShared,
    /// A Quantinuum Nexus token file, `~/.qnx/auth/*.json` (`token.json` holds the refresh
    /// token, `id.json` the access token).
    NexusAuth,
    /// A `.env` file (`.env`, `.env.local`, `prod.env`, `.envrc`).
    DotEnv,
    /// A Jupyter notebook (`.ipynb`): cell sources and text outputs.
    Notebook,
    /// A Python script.
    Python,
    /// A shell script or shell startup file.
    Shell,
    /// TOML.
    Toml,
    /// YAML.
    Yaml,
    /// Any other JSON.
    Json,
    /// Any other INI (`.ini`, `.cfg`).
    Ini,
    /// Anything else named explicitly on the command line.
    Text,
}

impl FileKind {
    /// Every kind.
    pub const ALL: [FileKind; 13] = [
        FileKind::QiskitAccounts,
        FileKind::Qiskitrc,
        FileKind::AwsShared,
        FileKind::NexusAuth,
        FileKind::DotEnv,
        FileKind::Notebook,
        FileKind::Python,
        FileKind::Shell,
        FileKind::Toml,
        FileKind::Yaml,
        FileKind::Json,
        FileKind::Ini,
        FileKind::Text,
    ];

    /// How a file at `path` is read, by its name (and, for AWS and Nexus files, its
    /// directory); `None` for files a directory walk passes over.
    pub fn for_path(path: &Path) -> Option<FileKind> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        let dir = |p: Option<&Path>| {
            p.and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
        };
        let parent = dir(path.parent());
        let grandparent = dir(path.parent().and_then(Path::parent));
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
        let kind = match name.as_str() {
            "qiskit-ibm.json" => FileKind::QiskitAccounts,
            "qiskitrc" => FileKind::Qiskitrc,
            "credentials" | "config" if parent.as_deref() == Some(".aws") => FileKind::AwsShared,
            _ if ext == "json"
                && parent.as_deref() == Some("auth")
                && grandparent.as_deref() == Some(".qnx") =>
            {
                FileKind::NexusAuth
            }
            ".env" | ".envrc" => FileKind::DotEnv,
            n if n.starts_with(".env.") || n.ends_with(".env") => FileKind::DotEnv,
            ".bashrc" | ".bash_profile" | ".bash_login" | ".profile" | ".zshrc" | ".zshenv"
            | ".zprofile" | ".kshrc" => FileKind::Shell,
            _ => match ext {
                "ipynb" => FileKind::Notebook,
                "py" | "pyw" | "ipy" => FileKind::Python,
                "sh" | "bash" | "zsh" | "ksh" => FileKind::Shell,
                "toml" => FileKind::Toml,
                "yaml" | "yml" => FileKind::Yaml,
                "json" => FileKind::Json,
                "ini" | "cfg" => FileKind::Ini,
                _ => return None,
            },
        };
        Some(kind)
    }

    /// As written in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::QiskitAccounts => "qiskit-accounts",
            FileKind::Qiskitrc => "qiskitrc",
            FileKind::AwsShared => "aws-shared",
            FileKind::NexusAuth => "nexus-auth",
            FileKind::DotEnv => "dot-env",
            FileKind::Notebook => "notebook",
            FileKind::Python => "python",
            FileKind::Shell => "shell",
            FileKind::Toml => "toml",
            FileKind::Yaml => "yaml",
            FileKind::Json => "json",
            FileKind::Ini => "ini",
            FileKind::Text => "text",
        }
    }

    /// Whether files of this kind are JSON documents (a rewrite must keep them valid).
    pub(crate) fn is_json(self) -> bool {
        matches!(
            self,
            FileKind::QiskitAccounts | FileKind::NexusAuth | FileKind::Notebook | FileKind::Json
        )
    }

    fn flavor(self) -> Flavor {
        match self {
            FileKind::Qiskitrc | FileKind::AwsShared | FileKind::Ini => Flavor::Ini,
            FileKind::DotEnv | FileKind::Shell => Flavor::Shell,
            FileKind::Python => Flavor::Python,
            FileKind::Toml => Flavor::Toml,
            FileKind::Yaml => Flavor::Yaml,
            FileKind::QiskitAccounts
            | FileKind::NexusAuth
            | FileKind::Notebook
            | FileKind::Json
            | FileKind::Text => Flavor::Plain,
        }
    }

    fn ctx(self) -> FileCtx {
        match self {
            FileKind::QiskitAccounts | FileKind::Qiskitrc => FileCtx::Qiskit,
            FileKind::AwsShared => FileCtx::Aws,
            FileKind::NexusAuth => FileCtx::Nexus,
            _ => FileCtx::None,
        }
    }

    fn implied(self) -> Option<Provider> {
        match self.ctx() {
            FileCtx::Qiskit => Some(Provider::Ibm),
            FileCtx::Aws => Some(Provider::Aws),
            FileCtx::Nexus => Some(Provider::Quantinuum),
            FileCtx::None => None,
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Scans one file's content, read as `kind`; `path` is what the findings report.
///
/// JSON kinds that do not parse (a truncated file, JSON with comments) are scanned as text, so
/// a broken file still gets its credentials found. Never panics, whatever the bytes.
pub fn scan_content(kind: FileKind, path: &Path, content: &[u8]) -> Vec<Finding> {
    let digest: [u8; 32] = Sha256::digest(content).into();
    let mut hints = Hints::of(content);
    if let Some(p) = kind.implied() {
        hints.set(p);
    }
    let structured = match kind {
        FileKind::QiskitAccounts | FileKind::NexusAuth | FileKind::Json => {
            json_document(kind, content, hints)
        }
        FileKind::Notebook => notebook(content, hints),
        _ => None,
    };
    let located = structured.unwrap_or_else(|| {
        scan_text(content, kind.flavor(), kind.ctx(), hints)
            .into_iter()
            .map(|h| Located::raw(content, h))
            .collect()
    });
    let mut cursor = Cursor::new(content);
    located
        .into_iter()
        .filter_map(|l| {
            let value = String::from_utf8(l.value.to_vec()).ok()?;
            let (line, column) = cursor.locate(l.span.start);
            Some(Finding {
                path: Some(path.to_path_buf()),
                line,
                column,
                cell: l.cell,
                provider: l.kind.provider(),
                kind: l.kind,
                preview: preview(&value),
                span: l.span,
                key: l.key,
                account: l.account,
                value: Secret::new(value),
                encoding: l.encoding,
                file_kind: Some(kind),
                digest: Some(digest),
            })
        })
        .collect()
}

/// A hit placed in the file.
struct Located {
    span: Range<usize>,
    value: Zeroizing<Vec<u8>>,
    encoding: Encoding,
    kind: FindingKind,
    key: Option<String>,
    account: Option<String>,
    cell: Option<CellLocation>,
}

impl Located {
    fn raw(content: &[u8], h: Hit) -> Located {
        Located {
            value: Zeroizing::new(content.get(h.span.clone()).unwrap_or_default().to_vec()),
            span: h.span,
            encoding: Encoding::Raw,
            kind: h.kind,
            key: h.key,
            account: h.account,
            cell: None,
        }
    }
}

/// Keeps the first of overlapping findings.
fn dedupe(all: Vec<Located>) -> Vec<Located> {
    first_of_overlapping(all, |l| &l.span)
}

/// Text decoded from one or more JSON strings (a notebook cell's source lines), and the way
/// back to the file.
#[derive(Default)]
struct Virtual {
    text: Zeroizing<Vec<u8>>,
    pieces: Vec<(usize, Decoded)>,
}

impl Virtual {
    fn push(&mut self, d: Decoded) {
        let at = self.text.len();
        self.text.extend_from_slice(&d.text);
        self.pieces.push((at, d));
    }

    /// The file range of a range of the text; `None` if it spans two strings.
    fn map(&self, span: &Range<usize>) -> Option<Range<usize>> {
        let i = self.pieces.partition_point(|(at, _)| *at <= span.start);
        let (at, d) = self.pieces.get(i.checked_sub(1)?)?;
        if span.end > at + d.text.len() {
            return None;
        }
        Some(d.raw_start(span.start - at)..d.raw_end(span.end - at))
    }

    /// Hits in the text (sorted, as [`scan_text`] returns them), placed in the file.
    fn locate(&self, hits: Vec<Hit>, cell: Option<(u32, bool)>, out: &mut Vec<Located>) {
        // Lines are counted as the hits go, so many hits in a long cell cost one pass.
        let (mut counted, mut line) = (0, 1usize);
        for h in hits {
            let Some(span) = self.map(&h.span) else {
                continue;
            };
            let upto = h.span.start.max(counted);
            line += self
                .text
                .get(counted..upto)
                .unwrap_or_default()
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            counted = upto;
            out.push(Located {
                value: Zeroizing::new(self.text.get(h.span.clone()).unwrap_or_default().to_vec()),
                span,
                encoding: Encoding::JsonString,
                kind: h.kind,
                key: h.key,
                account: h.account,
                cell: cell.map(|(cell, output)| CellLocation {
                    cell,
                    line: u32::try_from(line).unwrap_or(u32::MAX),
                    output,
                }),
            });
        }
    }
}

/// A JSON document's string values (by structure for Qiskit and Nexus files, by key and
/// content for the rest). `None` if it is not JSON.
fn json_document(kind: FileKind, content: &[u8], hints: Hints) -> Option<Vec<Located>> {
    let mut primary = Vec::new();
    let mut secondary = Vec::new();
    let mut accounts: Vec<(String, Range<usize>)> = Vec::new();
    let mut channels: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    json::walk(content, &mut |path, range| {
        if kind == FileKind::QiskitAccounts
            && let [Seg::Key(account), Seg::Key(field)] = path
        {
            match field.as_str() {
                "token" => {
                    accounts.push((account.clone(), range));
                    return;
                }
                "channel" => {
                    if let Some(d) = json::decode(content, range.clone()) {
                        channels.insert(account.clone(), d.text.to_vec());
                    }
                }
                _ => {}
            }
        }
        json_string(
            content,
            path,
            range,
            kind.ctx(),
            hints,
            &mut primary,
            &mut secondary,
        );
    })
    .ok()?;
    for (account, range) in accounts {
        let Some(d) = json::decode(content, range.clone()) else {
            continue;
        };
        let kind = match channels.get(&account).map(Vec::as_slice) {
            Some(b"ibm_quantum") => Some(FindingKind::IbmQuantumToken),
            Some(b"ibm_cloud" | b"ibm_quantum_platform") => Some(FindingKind::IbmCloudApiKey),
            _ => None,
        };
        if let Some(kind) = strong(Provider::Ibm, kind, Some(b"token"), &d.text) {
            primary.push(Located {
                span: range,
                value: Zeroizing::new(d.text.to_vec()),
                encoding: Encoding::JsonString,
                kind,
                key: Some("token".to_owned()),
                account: Some(account),
                cell: None,
            });
        }
    }
    primary.append(&mut secondary);
    Some(dedupe(primary))
}

/// Strings shorter than this hold no credential and are not scanned.
const MIN_STRING: usize = 16;

/// One JSON string value: the whole string if its key names a credential, and credentials
/// written inside it (`"command": "IONQ_API_KEY=… python run.py"`).
fn json_string(
    content: &[u8],
    path: &[Seg],
    range: Range<usize>,
    ctx: FileCtx,
    hints: Hints,
    primary: &mut Vec<Located>,
    secondary: &mut Vec<Located>,
) {
    if range.len() < MIN_STRING {
        return;
    }
    let Some(d) = json::decode(content, range.clone()) else {
        return;
    };
    if let Some(key) = path.last().and_then(Seg::key) {
        let name = key.as_bytes();
        let kind = match key_class(name) {
            Some(KeyClass::Explicit(p, k)) => strong(p, k, Some(name), &d.text),
            Some(KeyClass::Generic) if ctx == FileCtx::Nexus => {
                strong(Provider::Quantinuum, None, Some(name), &d.text)
            }
            Some(KeyClass::Generic) => weak(hints, &d.text),
            None => None,
        };
        if let Some(kind) = kind {
            primary.push(Located {
                span: range,
                value: Zeroizing::new(d.text.to_vec()),
                encoding: Encoding::JsonString,
                kind,
                key: Some(key.chars().take(128).collect()),
                account: None,
                cell: None,
            });
            return;
        }
    }
    let hits = scan_text(&d.text, Flavor::Plain, FileCtx::None, hints);
    if hits.is_empty() {
        return;
    }
    let mut v = Virtual::default();
    v.push(d);
    v.locate(hits, None, secondary);
}

/// A notebook cell's parts, as ranges of string values.
#[derive(Default)]
struct Cell {
    code: bool,
    source: Vec<Range<usize>>,
    outputs: BTreeMap<usize, Vec<Range<usize>>>,
}

/// A Jupyter notebook (nbformat 4): each cell's source as one text (Python for code cells),
/// each output's text, and every other string (metadata) as in any JSON. `None` if it is not
/// JSON.
fn notebook(content: &[u8], hints: Hints) -> Option<Vec<Located>> {
    let mut cells: BTreeMap<usize, Cell> = BTreeMap::new();
    let mut primary = Vec::new();
    let mut secondary = Vec::new();
    json::walk(content, &mut |path, range| {
        if let [Seg::Key(cells_key), Seg::Index(i), rest @ ..] = path
            && cells_key == "cells"
        {
            let cell = cells.entry(*i).or_default();
            match rest {
                [Seg::Key(k)] if k == "cell_type" => {
                    cell.code = content.get(range.clone()) == Some(b"code".as_slice());
                    return;
                }
                [Seg::Key(k)] | [Seg::Key(k), Seg::Index(_)] if k == "source" => {
                    cell.source.push(range);
                    return;
                }
                [Seg::Key(o), Seg::Index(n), Seg::Key(field), tail @ ..] if o == "outputs" => {
                    let text = match (field.as_str(), tail) {
                        ("text", [] | [Seg::Index(_)]) | ("traceback", [Seg::Index(_)]) => true,
                        ("data", [Seg::Key(mime)] | [Seg::Key(mime), Seg::Index(_)]) => {
                            if mime.starts_with("image/") {
                                return;
                            }
                            mime.starts_with("text/")
                        }
                        _ => false,
                    };
                    if text {
                        cell.outputs.entry(*n).or_default().push(range);
                        return;
                    }
                }
                _ => {}
            }
        }
        json_string(
            content,
            path,
            range,
            FileCtx::None,
            hints,
            &mut primary,
            &mut secondary,
        );
    })
    .ok()?;
    for (i, cell) in cells {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let flavor = if cell.code {
            Flavor::Python
        } else {
            Flavor::Plain
        };
        let source = join(content, &cell.source);
        let hits = scan_text(&source.text, flavor, FileCtx::None, hints);
        source.locate(hits, Some((number, false)), &mut primary);
        for ranges in cell.outputs.values() {
            let output = join(content, ranges);
            let hits = scan_text(&output.text, Flavor::Plain, FileCtx::None, hints);
            output.locate(hits, Some((number, true)), &mut primary);
        }
    }
    primary.append(&mut secondary);
    Some(dedupe(primary))
}

/// The strings at `ranges`, decoded and joined.
fn join(content: &[u8], ranges: &[Range<usize>]) -> Virtual {
    let mut v = Virtual::default();
    for r in ranges {
        if let Some(d) = json::decode(content, r.clone()) {
            v.push(d);
        }
    }
    v
}

/// Turns byte offsets, visited in increasing order, into lines and columns in one pass.
struct Cursor<'a> {
    content: &'a [u8],
    pos: usize,
    line: usize,
    column: usize,
}

impl<'a> Cursor<'a> {
    fn new(content: &'a [u8]) -> Cursor<'a> {
        Cursor {
            content,
            pos: 0,
            line: 1,
            column: 1,
        }
    }

    /// The line and column (from 1; the column in characters) of byte `pos`, which is at or
    /// after the last one asked.
    fn locate(&mut self, pos: usize) -> (u32, u32) {
        let upto = pos.min(self.content.len()).max(self.pos);
        for b in self.content.get(self.pos..upto).unwrap_or_default() {
            if *b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if (*b & 0xc0) != 0x80 {
                self.column += 1;
            }
        }
        self.pos = upto;
        (
            u32::try_from(self.line).unwrap_or(u32::MAX),
            u32::try_from(self.column).unwrap_or(u32::MAX),
        )
    }
}
