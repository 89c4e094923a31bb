//! `qwarden audit …`: verify, prove, read and export the ledger.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use qwarden_ledger::cas::DirCas;
use qwarden_ledger::cosignature::CosignatureVerifier;
use qwarden_ledger::durable::{MAX_LEDGER_FILE, read_bounded};
use qwarden_ledger::event::{Event, Kind};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::index::{Index, Query, index_key};
use qwarden_ledger::merkle;
use qwarden_ledger::note::{NoteSigner, NoteVerifier};
use qwarden_ledger::ocsf;
use qwarden_ledger::proof::{self, Proof};
use qwarden_ledger::reader::LogReader;
use qwarden_ledger::verify;
use qwarden_ledger::witness::{WitnessConfig, WitnessError};
use serde_json::json;

use crate::cli::{AuditCommand, ExportFormat, LedgerArgs};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// How often `--follow` looks for new entries.
const FOLLOW_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

pub fn run(dirs: &Dirs, cmd: AuditCommand) -> Result<Code, Failure> {
    match cmd {
        AuditCommand::Verify {
            ledger,
            witness,
            json,
        } => verify_cmd(dirs, &ledger, &witness, json),
        AuditCommand::Prove { ledger, index, out } => prove(dirs, &ledger, index, out.as_deref()),
        AuditCommand::VerifyProof {
            file,
            key,
            witness,
            entry,
            json,
        } => verify_proof(&file, &key, &witness, entry.as_deref(), json),
        AuditCommand::Consistency { ledger, from, to } => consistency(dirs, &ledger, from, to),
        AuditCommand::Push { ledger } => push(dirs, &ledger),
        AuditCommand::Key { ledger } => {
            let (_, verifier) = open_key(dirs, &ledger)?;
            writeln!(std::io::stdout().lock(), "{}", verifier.to_vkey())?;
            Ok(Code::Ok)
        }
        AuditCommand::Show {
            ledger,
            index,
            json,
        } => show(dirs, &ledger, index, json),
        AuditCommand::Tail {
            ledger,
            lines,
            follow,
            json,
        } => tail(dirs, &ledger, lines, follow, json),
        AuditCommand::Search {
            ledger,
            session,
            kind,
            since,
            json,
        } => search(
            dirs,
            &ledger,
            session.as_deref(),
            kind.as_deref(),
            since.as_deref(),
            json,
        ),
        AuditCommand::Export {
            ledger,
            format: ExportFormat::Ocsf,
            from,
            follow,
        } => export(dirs, &ledger, from, follow),
    }
}

/// A vkey given inline or as a file holding one.
pub fn vkey_text(arg: &str) -> Result<String, Failure> {
    let path = Path::new(arg);
    if !arg.contains('+') || path.exists() {
        return std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| Failure::invalid(anyhow!("cannot read key file `{arg}`: {e}\n  hint: pass a verification key (`name+hex+base64`) or a file holding one")));
    }
    Ok(arg.trim().to_owned())
}

pub(crate) fn note_verifier(arg: &str) -> Result<NoteVerifier, Failure> {
    let text = vkey_text(arg)?;
    NoteVerifier::from_vkey(&text).map_err(|e| {
        Failure::invalid(anyhow!(
            "{} is not a log verification key: {e}",
            key_label(arg)
        ))
    })
}

/// How an error names a key argument: a file by its path, an inline key only by its name, so a
/// private key pasted by mistake is never echoed.
pub fn key_label(arg: &str) -> String {
    if Path::new(arg).exists() {
        format!("`{arg}`")
    } else {
        let name = arg
            .trim_start_matches("PRIVATE+KEY+")
            .split('+')
            .next()
            .unwrap_or_default();
        format!("the key named `{name}`")
    }
}

fn witness_verifiers(args: &[String]) -> Result<Vec<CosignatureVerifier>, Failure> {
    args.iter()
        .map(|a| {
            let text = vkey_text(a)?;
            CosignatureVerifier::from_vkey(&text).map_err(|e| {
                Failure::invalid(anyhow!(
                    "{} is not a witness cosignature key: {e}",
                    key_label(a)
                ))
            })
        })
        .collect()
}

/// The ledger directory and the key it is checked against: `--key`, else — for this
/// workstation's own ledger — the key derived from its signing key. The ledger directory's own
/// `log.vkey` is never trusted: whoever could rewrite the log could rewrite it too. A missing
/// signing key for the home ledger is itself a finding (exit 6), not a reason to trust less.
pub(crate) fn open_key(dirs: &Dirs, args: &LedgerArgs) -> Result<(PathBuf, NoteVerifier), Failure> {
    let home = LedgerHome::new(&dirs.state);
    let dir = args.ledger.clone().unwrap_or_else(|| home.dir.clone());
    if let Some(k) = &args.key {
        return Ok((dir, note_verifier(k)?));
    }
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canon(&dir) != canon(&home.dir) {
        return Err(Failure::usage(anyhow!(
            "verifying `{}` needs the log's verification key: pass --key VKEY (from `qwarden audit key` on the workstation that wrote it)\n  hint: the directory's own `log.vkey` is not trusted, since whoever could rewrite the log could rewrite it too",
            dir.display()
        )));
    }
    match std::fs::read_to_string(&home.key) {
        Ok(text) => {
            let signer = NoteSigner::from_skey(text.trim()).map_err(|e| {
                Failure::invalid(anyhow!(
                    "the ledger signing key `{}` is unreadable: {e}",
                    home.key.display()
                ))
            })?;
            Ok((dir, signer.verifier()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.join("log.vkey").exists() => {
            Err(Failure::verification(anyhow!(
                "this workstation's ledger signing key `{}` is missing, but the ledger exists: the key was deleted, so the log cannot be vouched for\n  hint: verify with the key you recorded elsewhere (`--key VKEY`, e.g. from a witness's configuration)",
                home.key.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::invalid(anyhow!(
            "there is no ledger at `{}` yet\n  hint: it is created by the first recorded decision (`qwarden policy check …`); or pass --ledger DIR and --key VKEY",
            dir.display()
        ))),
        Err(e) => Err(Failure::invalid(anyhow!(
            "cannot read `{}`: {e}",
            home.key.display()
        ))),
    }
}

/// The content-addressed store beside a ledger directory.
fn cas_for(ledger_dir: &Path) -> Option<DirCas> {
    let dir = ledger_dir.parent()?.join("cas");
    DirCas::open(dir).ok()
}

/// What every entry must be: a canonical, valid event whose stored payloads are present and intact.
pub(crate) fn check_entry(cas: Option<&DirCas>, bytes: &[u8]) -> Result<(), String> {
    // `from_jcs` also insists on canonical form: re-encoding must give back the same bytes.
    let event = Event::from_jcs(bytes).map_err(|e| format!("not a valid event: {e}"))?;
    if !event.is_resolved() {
        let Some(cas) = cas else {
            return Err("refers to stored payloads, but there is no content-addressed store beside the ledger".into());
        };
        event.resolve(cas).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn verify_cmd(
    dirs: &Dirs,
    args: &LedgerArgs,
    witness: &[String],
    json: bool,
) -> Result<Code, Failure> {
    let (dir, verifier) = open_key(dirs, args)?;
    // Without --witness, the profile's witnesses are the ones that count.
    let witnesses = if witness.is_empty() {
        configured_witnesses(dirs)?
            .into_iter()
            .map(|w| w.verifier)
            .collect()
    } else {
        witness_verifiers(witness)?
    };
    let cas = cas_for(&dir);
    let report = verify::verify(&dir, &verifier, |_, bytes| check_entry(cas.as_ref(), bytes))
        .map_err(Failure::invalid)?;
    let anchored = if witnesses.is_empty() {
        None
    } else {
        qwarden_ledger::witness::anchored(&dir, &verifier, &witnesses)
    };
    let mut problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    // A witnessed size above the log's is reported first, in the text and in the JSON alike.
    let below_witnessed = anchored.filter(|a| *a > report.size);
    let mut json_problems: Vec<serde_json::Value> = Vec::new();
    if let Some(a) = below_witnessed {
        problems.insert(0, format!("the log was truncated below a witnessed size: witnesses cosigned size {a}, the log now claims {}", report.size));
        json_problems
            .push(json!({"problem": "below-witnessed-size", "witnessed": a, "size": report.size}));
    }
    if json {
        for p in &report.problems {
            json_problems.push(serde_json::to_value(p).map_err(Failure::internal)?);
        }
        crate::output::json(&json!({
            "ledger": dir,
            "origin": report.origin,
            "size": report.size,
            "checkpoints": report.checkpoints,
            "valid": problems.is_empty(),
            "problems": json_problems,
            "anchored": anchored,
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ledger       {}", dir.display())?;
        writeln!(out, "origin       {}", report.origin)?;
        writeln!(out, "entries      {}", report.size)?;
        writeln!(out, "checkpoints  {} checked", report.checkpoints)?;
        if !witnesses.is_empty() {
            match anchored {
                Some(a) if a > report.size => writeln!(
                    out,
                    "anchored     a witness cosigned size {a}, but the log now holds only {} entries",
                    report.size
                )?,
                Some(a) => writeln!(
                    out,
                    "anchored     up to size {a} by a witness; {} entries after it are not yet witnessed",
                    report.size.saturating_sub(a)
                )?,
                None => writeln!(
                    out,
                    "anchored     no kept checkpoint carries a cosignature from these witnesses"
                )?,
            }
        }
        match problems.first() {
            None => writeln!(out, "result       valid")?,
            Some(first) => {
                writeln!(out, "result       TAMPERED: {first}")?;
                for p in problems.iter().skip(1).take(20) {
                    writeln!(out, "             also: {p}")?;
                }
            }
        }
    }
    Ok(if problems.is_empty() {
        Code::Ok
    } else {
        Code::Verification
    })
}

fn reader(dirs: &Dirs, args: &LedgerArgs) -> Result<LogReader, Failure> {
    let (dir, verifier) = open_key(dirs, args)?;
    LogReader::open(&dir, &verifier).map_err(Failure::invalid)
}

fn prove(dirs: &Dirs, args: &LedgerArgs, index: u64, out: Option<&Path>) -> Result<Code, Failure> {
    let (dir, verifier) = open_key(dirs, args)?;
    let r = LogReader::open(&dir, &verifier).map_err(Failure::invalid)?;
    let entry = r.entry(index).map_err(Failure::invalid)?;
    let checkpoint = cosigned_checkpoint(&dir, &verifier, r.checkpoint_text())
        .unwrap_or_else(|| r.checkpoint_text().to_vec());
    let proof =
        Proof::make(&r.hashes(), index, &entry, &checkpoint, r.size()).map_err(Failure::invalid)?;
    let text = proof.to_text();
    match out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Failure::invalid(anyhow!("cannot write `{}`: {e}", path.display())))?;
            writeln!(
                std::io::stdout().lock(),
                "wrote the proof of entry {index} (log size {}) to {}",
                r.size(),
                path.display()
            )?;
        }
        None => std::io::stdout().lock().write_all(&text)?,
    }
    Ok(Code::Ok)
}

/// The kept copy of the latest checkpoint, `checkpoints/<size>`, if it signs the same text: it is
/// where `audit push` adds witness cosignatures, so a proof made from it shows the anchoring.
fn cosigned_checkpoint(dir: &Path, verifier: &NoteVerifier, latest: &[u8]) -> Option<Vec<u8>> {
    let (cp, note) = qwarden_ledger::checkpoint::open(latest, verifier).ok()?;
    let kept = read_bounded(
        &dir.join("checkpoints").join(cp.size.to_string()),
        MAX_LEDGER_FILE,
    )
    .ok()?;
    let (_, kept_note) = qwarden_ledger::checkpoint::open(&kept, verifier).ok()?;
    (kept_note.text() == note.text()).then_some(kept)
}

fn verify_proof(
    file: &Path,
    key: &str,
    witness: &[String],
    entry: Option<&Path>,
    json: bool,
) -> Result<Code, Failure> {
    let bytes = read_bounded(file, 2 * proof::MAX_PROOF_BYTES as u64)
        .map_err(|e| Failure::invalid(anyhow!("cannot read `{}`: {e}", file.display())))?;
    let verifier = note_verifier(key)?;
    let witnesses = witness_verifiers(witness)?;
    let entry_bytes = match entry {
        Some(p) => Some(
            read_bounded(p, MAX_LEDGER_FILE)
                .map_err(|e| Failure::invalid(anyhow!("cannot read `{}`: {e}", p.display())))?,
        ),
        None => None,
    };
    let proof = Proof::parse(&bytes).map_err(Failure::invalid)?;
    let verified = match entry_bytes.as_deref() {
        // `audit show INDEX --json > FILE` ends the entry with a newline; an entry file is taken
        // as it is or without that one newline, whichever the signed tree includes.
        Some(e) => proof.verify(&verifier, &witnesses, Some(e)).or_else(|err| {
            match e.strip_suffix(b"\n") {
                Some(trimmed) => proof
                    .verify(&verifier, &witnesses, Some(trimmed))
                    .map_err(|_| err),
                None => Err(err),
            }
        }),
        None => proof.verify(&verifier, &witnesses, None),
    }
    .map_err(Failure::verification)?;
    if json {
        crate::output::json(&json!({
            "valid": true,
            "index": proof.index,
            "origin": verified.checkpoint.origin,
            "size": verified.checkpoint.size,
            "entry": String::from_utf8_lossy(&verified.entry),
            "witnesses": verified.witnesses.iter().map(|(n, t)| json!({"name": n, "time": t})).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "valid: entry {} is in {} at size {}",
            proof.index, verified.checkpoint.origin, verified.checkpoint.size
        )?;
        for (name, time) in &verified.witnesses {
            writeln!(out, "cosigned by {name} at unix time {time}")?;
        }
        writeln!(out, "{}", String::from_utf8_lossy(&verified.entry))?;
    }
    Ok(Code::Ok)
}

fn consistency(
    dirs: &Dirs,
    args: &LedgerArgs,
    from: u64,
    to: Option<u64>,
) -> Result<Code, Failure> {
    let r = reader(dirs, args)?;
    let to = to.unwrap_or(r.size());
    if to > r.size() || from > to {
        return Err(Failure::invalid(anyhow!(
            "sizes must satisfy FROM <= TO <= {} (the log's size)",
            r.size()
        )));
    }
    // Every hash the proof needs is a complete subtree of the first `to` entries, which the
    // latest tree holds unchanged.
    let proof = merkle::consistency_proof(&r.hashes(), from, to).map_err(Failure::invalid)?;
    let mut out = std::io::stdout().lock();
    use base64::Engine as _;
    for h in proof {
        writeln!(
            out,
            "{}",
            base64::engine::general_purpose::STANDARD.encode(h)
        )?;
    }
    Ok(Code::Ok)
}

/// One entry for people: index, time, kind, session and the canonical JSON.
fn print_entry(out: &mut impl Write, index: u64, bytes: &[u8], json: bool) -> std::io::Result<()> {
    if json {
        out.write_all(bytes)?;
        return writeln!(out);
    }
    match Event::from_jcs(bytes) {
        Ok(e) => writeln!(
            out,
            "{index:>8}  {}  {:<16} {}  {}",
            e.time,
            e.kind().as_str(),
            e.session.as_deref().unwrap_or("-"),
            String::from_utf8_lossy(bytes)
        ),
        Err(err) => writeln!(out, "{index:>8}  (not a valid event: {err})"),
    }
}

fn show(dirs: &Dirs, args: &LedgerArgs, index: u64, json: bool) -> Result<Code, Failure> {
    let r = reader(dirs, args)?;
    let entry = r.entry(index).map_err(Failure::invalid)?;
    let mut out = std::io::stdout().lock();
    if json {
        out.write_all(&entry)?;
        writeln!(out)?;
    } else {
        let value: serde_json::Value =
            serde_json::from_slice(&entry).unwrap_or(serde_json::Value::Null);
        writeln!(
            out,
            "entry {index} of {} (leaf hash {})",
            r.size(),
            hex_of(&merkle::leaf_hash(&entry))
        )?;
        serde_json::to_writer_pretty(&mut out, &value).map_err(std::io::Error::other)?;
        writeln!(out)?;
    }
    Ok(Code::Ok)
}

fn hex_of(h: &merkle::Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Calls `each` for entries `from..` and, with `follow`, for every later entry, forever.
fn stream(
    dirs: &Dirs,
    args: &LedgerArgs,
    from: u64,
    follow: bool,
    mut each: impl FnMut(u64, &[u8]) -> std::io::Result<()>,
) -> Result<Code, Failure> {
    let mut next = from;
    loop {
        let r = reader(dirs, args)?;
        for item in r.entries(next, r.size()) {
            let (i, bytes) = item.map_err(Failure::invalid)?;
            each(i, &bytes)?;
            next = i + 1;
        }
        if !follow {
            return Ok(Code::Ok);
        }
        std::io::stdout().lock().flush()?;
        std::thread::sleep(FOLLOW_INTERVAL);
    }
}

fn tail(
    dirs: &Dirs,
    args: &LedgerArgs,
    lines: u64,
    follow: bool,
    json: bool,
) -> Result<Code, Failure> {
    let size = reader(dirs, args)?.size();
    stream(dirs, args, size.saturating_sub(lines), follow, |i, b| {
        let mut out = std::io::stdout().lock();
        print_entry(&mut out, i, b, json)?;
        out.flush()
    })
}

fn search(
    dirs: &Dirs,
    args: &LedgerArgs,
    session: Option<&str>,
    kind: Option<&str>,
    since: Option<&str>,
    json: bool,
) -> Result<Code, Failure> {
    let kind: Option<Kind> = kind
        .map(|k| {
            k.parse()
                .map_err(|e| Failure::invalid(anyhow!("--kind: {e}")))
        })
        .transpose()?;
    let since = since
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(
                |e| Failure::invalid(anyhow!("--since `{s}` is not an RFC 3339 time: {e}")),
            )
        })
        .transpose()?;
    let (dir, _) = open_key(dirs, args)?;
    let r = reader(dirs, args)?;
    // The index is authenticated with a key only this workstation's ledger signer can derive;
    // anywhere else it is rebuilt in memory.
    let home = LedgerHome::new(&dirs.state);
    let key = (dir == home.dir)
        .then(|| std::fs::read_to_string(&home.key).ok())
        .flatten()
        .map(|k| index_key(k.trim()));
    let index = Index::update(&dir, &r, key.as_ref()).map_err(Failure::invalid)?;
    let query = Query {
        session: session.map(str::to_owned),
        kind,
        since: since.map(|t| t.unix_timestamp_nanos()),
    };
    let mut out = std::io::stdout().lock();
    for item in index.search(&r, &query) {
        let (i, bytes) = item.map_err(Failure::invalid)?;
        print_entry(&mut out, i, &bytes, json)?;
    }
    Ok(Code::Ok)
}

fn export(dirs: &Dirs, args: &LedgerArgs, from: u64, follow: bool) -> Result<Code, Failure> {
    let (dir, verifier) = open_key(dirs, args)?;
    let origin = LogReader::open(&dir, &verifier)
        .map_err(Failure::invalid)?
        .checkpoint()
        .origin
        .clone();
    let cas = cas_for(&dir);
    stream(dirs, args, from, follow, |i, bytes| {
        let mut out = std::io::stdout().lock();
        match Event::from_jcs(bytes) {
            Ok(e) => {
                // A SIEM gets the payloads, not references to a store it cannot read.
                let e = resolved(cas.as_ref(), i, e);
                let row = ocsf::to_ocsf(&e, &origin, i, &merkle::leaf_hash(bytes));
                serde_json::to_writer(&mut out, &row).map_err(std::io::Error::other)?;
                writeln!(out)?;
            }
            Err(err) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "qwarden: entry {i} is not a valid event ({err}); skipped"
                );
            }
        }
        out.flush()
    })
}

/// `e` with its stored payloads fetched from `cas`; `e` as it is, with a warning, when they
/// cannot be.
fn resolved(cas: Option<&DirCas>, index: u64, e: Event) -> Event {
    if e.is_resolved() {
        return e;
    }
    let fetched = match cas {
        Some(cas) => e.resolve(cas).map_err(|err| err.to_string()),
        None => Err("there is no content-addressed store beside the ledger".to_owned()),
    };
    fetched.unwrap_or_else(|why| {
        let _ = writeln!(
            std::io::stderr().lock(),
            "qwarden: entry {index}: {why}; exported with the payload reference instead"
        );
        e
    })
}

/// The witnesses the profile configures.
fn configured_witnesses(dirs: &Dirs) -> Result<Vec<WitnessConfig>, Failure> {
    match crate::commands::policy::load_profile_for_paths(dirs)? {
        Some(profile) => witness_configs(&profile),
        None => Ok(Vec::new()),
    }
}

/// The profile's `[[ledger.witnesses]]`, ready to push to.
pub fn witness_configs(profile: &qwarden_policy::Profile) -> Result<Vec<WitnessConfig>, Failure> {
    profile
        .ledger
        .witnesses
        .iter()
        .map(|w| {
            let verifier = CosignatureVerifier::from_vkey(&w.key).map_err(|e| {
                Failure::invalid(anyhow!("profile: witness `{}` has an invalid key: {e}\n  hint: paste the key `qwarden witness serve` prints", w.name))
            })?;
            Ok(WitnessConfig { name: w.name.clone(), url: w.url.clone(), verifier })
        })
        .collect()
}

fn push(dirs: &Dirs, args: &LedgerArgs) -> Result<Code, Failure> {
    let witnesses = configured_witnesses(dirs)?;
    if witnesses.is_empty() {
        return Err(Failure::invalid(anyhow!(
            "the profile configures no witnesses\n  hint: add a [[ledger.witnesses]] table with name, url and key to profile.toml"
        )));
    }
    let (dir, verifier) = open_key(dirs, args)?;
    let mut code = Code::Ok;
    let mut out = std::io::stdout().lock();
    for w in &witnesses {
        match qwarden_ledger::witness::push(&dir, &verifier, w) {
            Ok(o) => writeln!(
                out,
                "{}: cosigned size {} (previously {})",
                w.name, o.size, o.previous_size
            )?,
            Err(e) => {
                // A log that shrank or forked since it was witnessed is tampered, not a failed push.
                if shows_tampering(&e) {
                    code = Code::Verification;
                } else if code == Code::Ok {
                    code = Code::Internal;
                }
                let _ = writeln!(std::io::stderr().lock(), "qwarden: witness {}: {e}", w.name);
            }
        }
    }
    Ok(code)
}

/// Whether a failed push means the ledger no longer extends what was witnessed, or its own
/// checkpoints do not verify.
fn shows_tampering(e: &WitnessError) -> bool {
    matches!(
        e,
        WitnessError::WitnessAhead { .. }
            | WitnessError::KeptCheckpointDiffers { .. }
            | WitnessError::InvalidCheckpoint { .. }
            | WitnessError::Rejected {
                status: 409 | 422,
                ..
            }
    )
}
