//! Starts both provider doubles and prints how to reach them, as `NAME=value` lines ending with
//! `READY`, then serves until standard input closes. `dev/sdk_check.py` runs the real SDKs
//! against it.
//!
//! ```text
//! cargo run -p qwarden-provider-doubles --example serve
//! ```
//!
//! Each line on standard input is a command, answered with `OK` or `ERR <why>` on standard
//! output:
//!
//! * `ibm reject-next <status> <message>`, `ibm fail-next`, `ibm cancel-next`,
//!   `ibm iam-reject on|off`;
//! * `ionq reject-next <status> <message>`, `ionq fail-next`, `ionq cancel-next`.
//!
//! When standard input closes, the requests each double received are listed on standard error.

use std::io::{BufRead as _, Write as _};

use qwarden_provider_doubles::{IbmConfig, IbmDouble, IonqConfig, IonqDouble, ibm_fixtures_dir};

fn command(ibm: &IbmDouble, ionq: &IonqDouble, line: &str) -> Result<(), String> {
    let mut words = line.splitn(4, ' ');
    let target = words.next().unwrap_or_default();
    let verb = words.next().unwrap_or_default();
    let reject = |rest: (Option<&str>, Option<&str>)| -> Result<(u16, String), String> {
        let status = rest
            .0
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or("reject-next needs a status")?;
        Ok((status, rest.1.unwrap_or("refused by the double").to_owned()))
    };
    match (target, verb) {
        ("ibm", "reject-next") => {
            let (status, message) = reject((words.next(), words.next()))?;
            ibm.reject_next_job(status, &message);
        }
        ("ibm", "fail-next") => ibm.fail_next_job("Error raised by the IBM double", 1517),
        ("ibm", "cancel-next") => ibm.cancel_next_job(),
        ("ibm", "iam-reject") => ibm.set_iam_rejects_key(words.next() == Some("on")),
        ("ionq", "reject-next") => {
            let (status, message) = reject((words.next(), words.next()))?;
            ionq.reject_next_job(status, &message);
        }
        ("ionq", "fail-next") => {
            ionq.fail_next_job("InternalError", "Error raised by the IonQ double")
        }
        ("ionq", "cancel-next") => ionq.cancel_next_job(),
        _ => return Err(format!("unknown command {line:?}")),
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let ibm = IbmDouble::try_start(IbmConfig::from_fixtures(&ibm_fixtures_dir())?)?;
    let ionq = IonqDouble::try_start(IonqConfig::default())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "IBM_BASE_URL={}", ibm.base_url())?;
    writeln!(out, "IBM_IAM_URL={}", ibm.iam_url())?;
    writeln!(out, "IBM_RUNTIME_URL={}", ibm.runtime_url())?;
    writeln!(out, "IBM_SDK_RUNTIME_URL={}", ibm.sdk_runtime_url())?;
    writeln!(out, "IBM_API_KEY={}", ibm.api_key())?;
    writeln!(out, "IBM_INSTANCE_CRN={}", ibm.instance_crn())?;
    writeln!(out, "IONQ_BASE_URL={}", ionq.base_url())?;
    writeln!(out, "IONQ_API_URL={}", ionq.api_url())?;
    writeln!(out, "IONQ_API_KEY={}", ionq.api_key())?;
    writeln!(out, "READY")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match command(&ibm, &ionq, line) {
            Ok(()) => writeln!(out, "OK")?,
            Err(why) => writeln!(out, "ERR {why}")?,
        }
        out.flush()?;
    }
    let mut err = std::io::stderr().lock();
    for (name, log) in [("ibm", ibm.requests()), ("ionq", ionq.requests())] {
        for r in log {
            writeln!(
                err,
                "{name}: {} {}{} -> {}",
                r.method,
                r.path,
                r.query.map(|q| format!("?{q}")).unwrap_or_default(),
                r.status
            )?;
        }
    }
    Ok(())
}
