//! `qwarden submit`: run an OpenQASM circuit on the local backend and print its counts.

use std::io::Write;
use std::path::Path;

use anyhow::anyhow;
use qwarden_sim::noise::NoiseModel;
use qwarden_sim::{Method, RunOptions};
use serde::Serialize;

use crate::cli::{LocalBackend, SubmitArgs};
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

/// A calibration snapshot: IBM backend properties (`qubits` and `gates`) or an IonQ
/// characterization.
fn noise_model(path: &Path) -> Result<NoiseModel, Failure> {
    let text = read(path, "calibration")?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::invalid(anyhow!("calibration `{}` is not JSON: {e}", path.display()))
    })?;
    let model = if value.get("qubits").is_some_and(serde_json::Value::is_array)
        && value.get("gates").is_some()
    {
        NoiseModel::from_ibm_properties(&text, None)
    } else {
        NoiseModel::from_ionq_characterization(&text)
    };
    model.map_err(|e| Failure::invalid(anyhow!("calibration `{}`: {e}", path.display())))
}

/// 3/4 of the memory the kernel says is available, so a big circuit is refused, not swapped.
fn memory_limit() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(qwarden_sim::run::DEFAULT_MEMORY_LIMIT, |kb| {
            kb * 1024 / 4 * 3
        })
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
    let circuit = qwarden_sim::qasm::parse(&source)
        .map_err(|e| Failure::invalid(anyhow!("{}:{e}", args.file.display())))?;
    // A circuit on a device's physical qubits runs on just the qubits it uses.
    let (circuit, layout) = circuit.compact();
    let noise = match (&args.calibration, args.backend) {
        (Some(path), LocalBackend::Statevector) => {
            return Err(Failure::usage(anyhow!(
                "local:statevector is noiseless; drop --calibration `{}` or use local:noisy",
                path.display()
            )));
        }
        (None, LocalBackend::Noisy) => {
            return Err(Failure::usage(anyhow!(
                "local:noisy needs --calibration FILE (IBM backend properties or an IonQ characterization)"
            )));
        }
        (Some(path), _) => Some(noise_model(path)?.remapped(&layout)),
        (None, _) => None,
    };
    let method = match args.backend {
        LocalBackend::Statevector => Method::Statevector,
        LocalBackend::Density => Method::DensityMatrix,
        LocalBackend::Trajectories => Method::Trajectories,
        LocalBackend::Noisy => Method::Auto,
    };
    let seed = args.seed.unwrap_or_else(random_seed);
    let opts = RunOptions {
        shots: args.shots,
        seed,
        threads: args.threads,
        method,
        noise,
        memory_limit: memory_limit(),
    };
    let result = qwarden_sim::run::run(&circuit, &opts)
        .map_err(|e| Failure::invalid(anyhow!("{}: {e}", args.file.display())))?;
    if args.json {
        crate::output::json(&Output {
            circuit: args.file.display().to_string(),
            backend: args.backend.name(),
            method: result.method,
            shots: result.shots,
            seed: result.seed,
            qubits: circuit.num_qubits,
            layout: &layout,
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

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if ok { u64::from_le_bytes(b) >> 11 } else { 0 }
}
