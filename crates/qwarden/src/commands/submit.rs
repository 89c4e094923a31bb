//! `qwarden submit`: run an OpenQASM circuit on the local backend and print its counts.

use std::io::Write;
use std::path::Path;

use anyhow::anyhow;
use qwarden_gateway::local::{self, Calibration, LocalJob};
use qwarden_sim::Method;
use serde::Serialize;

use crate::cli::SubmitArgs;
use crate::exit::{Code, Failure};

/// Circuits and calibration files larger than this are refused before reading.
const MAX_INPUT: u64 = 16 << 20;

fn read(path: &Path, what: &str) -> Result<String, Failure> {
    let md = std::fs::metadata(path)
        .map_err(|e| Failure::invalid(anyhow!("cannot read {what} `{}`: {e}", path.display())))?;
    if md.len() > MAX_INPUT {
        return Err(Failure::invalid(anyhow!(
            "{what} `{}` is {} bytes, over the {MAX_INPUT}-byte limit",
            path.display(),
            md.len()
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Failure::invalid(anyhow!("cannot read {what} `{}`: {e}", path.display())))
}

#[derive(Serialize)]
struct Output<'a> {
    circuit: String,
    backend: &'a str,
    method: Method,
    shots: u64,
    seed: u64,
    qubits: usize,
    layout: &'a [usize],
    calibration: Option<String>,
    counts: &'a qwarden_sim::Counts,
}

/// Runs the circuit; prints a table of counts (or JSON).
pub fn run(args: &SubmitArgs) -> Result<Code, Failure> {
    let source = read(&args.file, "circuit")?;
    let calibration = match &args.calibration {
        Some(path) => Some(
            Calibration::parse(read(path, "calibration")?)
                .map_err(|e| Failure::invalid(anyhow!("`{}`: {e}", path.display())))?,
        ),
        None => None,
    };
    let seed = args.seed.unwrap_or_else(local::random_seed);
    let job = LocalJob {
        qasm: &source,
        backend: args.backend.local(),
        shots: args.shots,
        seed,
        calibration: calibration.as_ref(),
        threads: args.threads,
        memory_limit: local::memory_limit(),
    };
    let result = local::run(&job).map_err(|e| match e {
        local::LocalError::NoiselessWithCalibration => Failure::usage(anyhow!(
            "local:statevector is noiseless; drop --calibration `{}` or use local:noisy",
            args.calibration
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )),
        local::LocalError::NoisyWithoutCalibration => Failure::usage(anyhow!(
            "local:noisy needs --calibration FILE (IBM backend properties or an IonQ characterization)"
        )),
        local::LocalError::Circuit(m) => Failure::invalid(anyhow!("{}:{m}", args.file.display())),
        other => Failure::invalid(anyhow!("{}: {other}", args.file.display())),
    })?;
    let (qubits, layout) = (result.qubits, &result.layout);
    if args.json {
        crate::output::json(&Output {
            circuit: args.file.display().to_string(),
            backend: args.backend.name(),
            method: result.method,
            shots: result.shots,
            seed: result.seed,
            qubits,
            layout,
            calibration: args.calibration.as_ref().map(|p| p.display().to_string()),
            counts: &result.counts,
        })?;
        return Ok(Code::Ok);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: {} shots on {} ({}), seed {seed}{}",
        args.file.display(),
        result.shots,
        args.backend.name(),
        serde_json::to_value(result.method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        args.calibration
            .as_ref()
            .map(|p| format!(", noise from {}", p.display()))
            .unwrap_or_default()
    )?;
    let mut rows: Vec<(&String, &u64)> = result.counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut table = crate::output::Table::new(&["OUTCOME", "COUNT", "PROBABILITY"]);
    for (k, v) in rows {
        table.row(vec![
            k.clone(),
            v.to_string(),
            format!("{:.4}", *v as f64 / result.shots.max(1) as f64),
        ]);
    }
    table.write(&mut out)?;
    Ok(Code::Ok)
}
