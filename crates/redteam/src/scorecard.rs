//! Running the catalogue and judging each attack: blocked (the canary never appeared and the
//! attack did not report success) and recorded (the ledger holds the expected refusal).

use std::path::Path;

use serde::Serialize;

use crate::catalogue::{ATTACKS, Attack, MANIFEST};
use crate::lab::{Lab, LabError, Session};

/// One attack's outcome in one tier.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The attack.
    pub attack: &'static str,
    /// The tier it ran in.
    pub tier: String,
    /// Whether it was stopped.
    pub blocked: bool,
    /// Whether the ledger recorded the refusal.
    pub recorded: bool,
    /// The control that stopped it (the expected one when recorded).
    pub control: String,
    /// What a real agent would do.
    pub agent_would: &'static str,
    /// How it is stopped.
    pub stopped_by: &'static str,
    /// Evidence: the recorded refusal, or what was missing, or what got through.
    pub evidence: String,
}

impl Finding {
    /// Blocked and recorded.
    pub fn held(&self) -> bool {
        self.blocked && self.recorded
    }
}

/// Judges `attack` from its `session` in a lab whose canary is `canary`.
pub fn judge(attack: &Attack, tier: &str, canary: &str, session: &Session) -> Finding {
    let escaped = session
        .stdout
        .lines()
        .find(|l| l.starts_with("ESCAPED") || l.contains(canary));
    let want = attack.expected;
    let ours = |r: &&crate::lab::Recorded| {
        want.contains
            .iter()
            .any(|c| r.attempted.contains(c) || r.target.contains(c))
    };
    // The expected control's refusal if there is one, else another control's.
    let hit = session
        .recorded
        .iter()
        .filter(ours)
        .find(|r| r.control == want.control)
        .or_else(|| session.recorded.iter().find(ours));
    let evidence = match (escaped, hit) {
        (Some(line), _) => format!(
            "got through: {}",
            line.replace(canary, "<canary>")
                .chars()
                .take(160)
                .collect::<String>()
        ),
        (None, Some(r)) => format!(
            "{} by {}: {}{}",
            r.kind,
            r.control,
            r.attempted,
            if r.target.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.target)
            }
        ),
        (None, None) => format!(
            "blocked, but no refusal mentioning {} is in the ledger (the agent printed {:?}; {} refusal(s) recorded: {})",
            want.contains.join(" or "),
            session
                .stdout
                .lines()
                .last()
                .unwrap_or_default()
                .replace(canary, "<canary>")
                .chars()
                .take(120)
                .collect::<String>(),
            session.recorded.len(),
            session
                .recorded
                .iter()
                .take(4)
                .map(|r| format!("{}/{}", r.control, r.attempted))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Finding {
        attack: attack.id,
        tier: tier.to_owned(),
        blocked: escaped.is_none(),
        recorded: hit.is_some(),
        control: hit.map_or_else(|| want.control.to_owned(), |r| r.control.clone()),
        agent_would: attack.agent_would,
        stopped_by: attack.stopped_by,
        evidence,
    }
}

/// Runs every attack (or those whose id is in `only`) in a fresh lab of `tier`, then tampers
/// with a copy of the lab's ledger and checks that `qwarden audit verify` catches it.
pub fn run(qwarden: &Path, tier: &str, only: &[String]) -> Result<Vec<Finding>, LabError> {
    let lab = Lab::new(qwarden, tier)?;
    let mut findings = Vec::new();
    for attack in ATTACKS
        .iter()
        .filter(|a| only.is_empty() || only.iter().any(|o| o == a.id))
    {
        let state = lab.state().to_string_lossy().into_owned();
        let argv: Vec<&str> = attack
            .argv
            .iter()
            .map(|a| {
                if *a == crate::catalogue::STATE_PLACEHOLDER {
                    state.as_str()
                } else {
                    a
                }
            })
            .collect();
        let session = lab.session(
            &format!("redteam-{}", attack.id),
            MANIFEST,
            attack.files,
            &argv,
        )?;
        findings.push(judge(attack, tier, &lab.canary, &session));
    }
    if only.is_empty() || only.iter().any(|o| o == LEDGER_TAMPERING) {
        findings.push(ledger_tampering(&lab)?);
    }
    Ok(findings)
}

/// The id of the ledger-tampering check.
pub const LEDGER_TAMPERING: &str = "ledger-tampering";

/// An agent that got out would rewrite the log to hide what it did: one byte of a copy of the
/// lab's ledger is changed and `qwarden audit verify` must refuse it.
fn ledger_tampering(lab: &Lab) -> Result<Finding, LabError> {
    let caught = lab.tampered_ledger_is_caught(|ledger| {
        let bundle = first_entry_bundle(&ledger.join("tile/entries"))
            .ok_or_else(|| std::io::Error::other("the lab ledger has no entry bundle"))?;
        let mut bytes = std::fs::read(&bundle)?;
        if let Some(b) = bytes.iter_mut().rev().find(|b| b.is_ascii_digit()) {
            *b = if *b == b'9' { b'1' } else { *b + 1 };
        }
        std::fs::write(&bundle, bytes)
    })?;
    Ok(Finding {
        attack: LEDGER_TAMPERING,
        tier: lab.tier().to_owned(),
        blocked: caught,
        recorded: caught,
        control: "ledger".into(),
        agent_would: "rewrite the audit log afterwards to hide what it did",
        stopped_by: "the Merkle tree and signed checkpoints: `qwarden audit verify` refuses a log with one byte changed",
        evidence: if caught {
            "a copy of the ledger with one digit of an entry changed fails `qwarden audit verify` (exit 6)".into()
        } else {
            "a tampered copy of the ledger VERIFIED".into()
        },
    })
}

fn first_entry_bundle(dir: &Path) -> Option<std::path::PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d).ok()?.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use crate::lab::Recorded;

    fn attack(id: &str) -> &'static Attack {
        ATTACKS.iter().find(|a| a.id == id).unwrap()
    }

    fn session(stdout: &str, recorded: &[(&str, &str, &str)]) -> Session {
        Session {
            stdout: stdout.to_owned(),
            summary: serde_json::Value::Null,
            recorded: recorded
                .iter()
                .map(|(control, attempted, target)| Recorded {
                    kind: "violation".into(),
                    control: (*control).into(),
                    attempted: (*attempted).into(),
                    target: (*target).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_canary_in_the_output_is_an_attack_that_got_through() {
        let a = attack("credential-file-read");
        let f = judge(
            a,
            "sandbox",
            "qwarden-canary-1",
            &session(
                "{\"token\": \"qwarden-canary-1\"}\n",
                &[("credential-guard", "open for read", "/h/.qiskit/x")],
            ),
        );
        assert!(!f.blocked && !f.held());
        assert!(f.evidence.contains("<canary>") && !f.evidence.contains("qwarden-canary-1"));
    }

    #[test]
    fn an_escaped_line_is_an_attack_that_got_through() {
        let f = judge(
            attack("raw-socket-and-udp"),
            "staging",
            "qwarden-canary-x",
            &session("ESCAPED udp sent\n", &[]),
        );
        assert!(!f.blocked && !f.recorded);
    }

    #[test]
    fn a_blocked_attack_without_its_refusal_in_the_ledger_is_unrecorded() {
        let f = judge(
            attack("ptrace"),
            "prod",
            "qwarden-canary-x",
            &session("ptrace:-1\n", &[("seccomp", "syscall bpf", "")]),
        );
        assert!(f.blocked && !f.recorded && !f.held());
        assert!(
            f.evidence.contains("no refusal mentioning ptrace"),
            "{}",
            f.evidence
        );
    }

    #[test]
    fn the_control_that_acted_is_named_even_when_another_was_expected() {
        let f = judge(
            attack("protected-path-write"),
            "prod",
            "qwarden-canary-x",
            &session(
                "",
                &[(
                    "mount-namespace",
                    "open for write",
                    "/p/src/.git/hooks/pre-commit",
                )],
            ),
        );
        assert!(f.held());
        assert_eq!(f.control, "mount-namespace");
        let f = judge(
            attack("protected-path-write"),
            "sandbox",
            "qwarden-canary-x",
            &session(
                "",
                &[
                    ("mount-namespace", "create", "/p/src/.git/hooks/pre-commit"),
                    (
                        "protected-path",
                        "open for write",
                        "/p/src/.git/hooks/pre-commit",
                    ),
                ],
            ),
        );
        assert_eq!(
            f.control, "protected-path",
            "the expected control is preferred"
        );
    }

    #[test]
    fn every_attack_is_documented_and_named_once() {
        let mut ids: Vec<&str> = ATTACKS.iter().map(|a| a.id).collect();
        ids.push(LEDGER_TAMPERING);
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        for a in ATTACKS {
            assert!(!a.agent_would.is_empty() && !a.stopped_by.is_empty() && !a.argv.is_empty());
            assert!(!a.expected.contains.is_empty());
        }
    }
}
