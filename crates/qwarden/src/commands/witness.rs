//! `qwarden witness serve`: a tlog-witness for other workstations' ledgers.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;
use qwarden_ledger::cosignature::Cosigner;
use qwarden_ledger::witness::{FileStore, Witness, serve};

use crate::cli::WitnessCommand;
use crate::commands::audit::vkey_text;
use crate::exit::{Code, Failure};

pub fn run(cmd: WitnessCommand) -> Result<Code, Failure> {
    let WitnessCommand::Serve {
        listen,
        dir,
        name,
        log,
    } = cmd;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Failure::invalid(anyhow!("cannot create `{}`: {e}", dir.display())))?;
    let cosigner = cosigner(&dir, name.as_deref())?;
    let store = FileStore::open(&dir.join("state")).map_err(Failure::invalid)?;
    let mut witness = Witness::new(cosigner, store);
    for l in &log {
        let text = vkey_text(l)?;
        let verifier = qwarden_ledger::note::NoteVerifier::from_vkey(&text).map_err(|e| {
            Failure::invalid(anyhow!(
                "{} is not a log verification key: {e}",
                crate::commands::audit::key_label(l)
            ))
        })?;
        let origin = verifier.name().to_owned();
        witness
            .add_log(&origin, verifier)
            .map_err(Failure::invalid)?;
    }
    let witness = Arc::new(witness);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::internal)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::invalid(anyhow!("cannot listen on {listen}: {e}")))?;
        let local = listener.local_addr().map_err(Failure::internal)?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "witness {} listening on http://{local}/add-checkpoint",
                witness.verifier().name()
            )?;
            writeln!(out, "cosignature key: {}", witness.verifier().to_vkey())?;
            for origin in witness.origins() {
                writeln!(out, "witnessing {origin}")?;
            }
            out.flush()?;
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, witness.clone(), shutdown)
            .await
            .map_err(Failure::invalid)?;
        Ok::<(), Failure>(())
    })?;
    Ok(Code::Ok)
}

/// The witness's key in `DIR/witness.key`, made on first use with the given name.
fn cosigner(dir: &Path, name: Option<&str>) -> Result<Cosigner, Failure> {
    let path = dir.join("witness.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let c = Cosigner::from_skey(text.trim()).map_err(|e| {
                Failure::invalid(anyhow!("`{}` is not a witness key: {e}", path.display()))
            })?;
            if let Some(n) = name
                && n != c.name()
            {
                return Err(Failure::invalid(anyhow!(
                    "the witness in `{}` is named `{}`, not `{n}`\n  hint: drop --name, or use another --dir for a new witness",
                    dir.display(),
                    c.name()
                )));
            }
            Ok(c)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = name.ok_or_else(|| {
                Failure::usage(anyhow!(
                    "a new witness needs a name: pass --name, e.g. `--name witness.lab.example`"
                ))
            })?;
            let c = Cosigner::generate(name).map_err(Failure::invalid)?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| {
                    Failure::invalid(anyhow!("cannot create `{}`: {e}", path.display()))
                })?;
            f.write_all(c.to_skey().as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            Ok(c)
        }
        Err(e) => Err(Failure::invalid(anyhow!(
            "cannot read `{}`: {e}",
            path.display()
        ))),
    }
}
