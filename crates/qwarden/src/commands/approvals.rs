//! `qwarden approvals`: the human side of the approval gates.

use std::io::Write;

use anyhow::anyhow;
use qwarden_approvals::store::{Store, StoreError};
use qwarden_approvals::tally::{self, Status, Vote, VoteError};
use qwarden_approvals::{ApprovalRequest, Decision};
use qwarden_ledger::event::{Approval, ApprovalDecision, Event, Timestamp, Violation};
use qwarden_policy::Profile;
use serde_json::json;
use time::OffsetDateTime;

use crate::cli::{ApprovalsCommand, DecisionArg, VoteArgs};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};

/// Runs one `qwarden approvals` command.
pub fn run(dirs: &Dirs, cmd: ApprovalsCommand) -> Result<Code, Failure> {
    let store = Store::open(dirs.state.join("approvals")).map_err(Failure::invalid)?;
    let profile = super::policy::load_profile(dirs, None, None)?.profile;
    match cmd {
        ApprovalsCommand::List { all, json } => list(&store, &profile, all, json),
        ApprovalsCommand::Show { id, message, json } => show(&store, &profile, &id, message, json),
        ApprovalsCommand::Approve { id, vote, totp } => cast(
            dirs,
            &store,
            &profile,
            &id,
            Decision::Approve,
            &vote,
            totp.as_deref(),
        ),
        ApprovalsCommand::Deny { id, vote } => {
            cast(dirs, &store, &profile, &id, Decision::Deny, &vote, None)
        }
        ApprovalsCommand::Enroll { name } => enroll(&store, &profile, &name),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn list(store: &Store, profile: &Profile, all: bool, json: bool) -> Result<Code, Failure> {
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    for r in store.list().map_err(Failure::invalid)? {
        let outcome = store.outcome(&r.id).map_err(Failure::invalid)?;
        if outcome.is_some() && !all {
            continue;
        }
        let votes = store.votes(&r.id).map_err(Failure::invalid)?;
        let status = tally::status(&r, &profile.approvers, &votes, now);
        rows.push((r, status, outcome));
    }
    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(r, s, o)| {
                let mut v = r.describe();
                if let Some(m) = v.as_object_mut() {
                    m.insert("status".into(), json!(s));
                    m.insert("outcome".into(), json!(o));
                }
                v
            })
            .collect();
        crate::output::json(&out)?;
        return Ok(Code::Ok);
    }
    let mut table = crate::output::Table::new(&["ID", "STATUS", "AGENT", "ACTION", "EXPIRES"]);
    for (r, s, o) in &rows {
        table.row(vec![
            r.id.clone(),
            o.as_ref()
                .map_or_else(|| s.name().to_owned(), |o| o.result.clone()),
            r.subject.agent.clone(),
            r.action.describe(),
            rfc3339(r.expires),
        ]);
    }
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        writeln!(out, "no approval requests waiting")?;
    } else {
        table.write(&mut out)?;
    }
    Ok(Code::Ok)
}

fn decision(d: DecisionArg) -> Decision {
    match d {
        DecisionArg::Approve => Decision::Approve,
        DecisionArg::Deny => Decision::Deny,
    }
}

fn show(
    store: &Store,
    profile: &Profile,
    id: &str,
    message: Option<DecisionArg>,
    json: bool,
) -> Result<Code, Failure> {
    let r = store.get(id).map_err(Failure::invalid)?;
    let mut out = std::io::stdout().lock();
    if let Some(d) = message {
        out.write_all(r.message(decision(d)).map_err(Failure::invalid)?.as_bytes())?;
        return Ok(Code::Ok);
    }
    let votes = store.votes(id).map_err(Failure::invalid)?;
    let status = tally::status(&r, &profile.approvers, &votes, OffsetDateTime::now_utc());
    let outcome = store.outcome(id).map_err(Failure::invalid)?;
    let mut v = r.describe();
    if let Some(m) = v.as_object_mut() {
        m.insert("status".into(), json!(status));
        m.insert("outcome".into(), json!(outcome));
        m.insert(
            "request_digest".into(),
            json!(r.digest().map_err(Failure::invalid)?),
        );
        m.insert("action_digest".into(), json!(r.action_digest));
        m.insert("details".into(), json!(r.action));
    }
    if json {
        drop(out);
        crate::output::json(&v)?;
        return Ok(Code::Ok);
    }
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    writeln!(out, "request   {}", r.id)?;
    writeln!(out, "action    {}", field("action"))?;
    if let qwarden_approvals::Action::QpuJob(j) = &r.action {
        writeln!(out, "circuit   {} ({})", j.summary, j.circuit_digest)?;
        writeln!(out, "backend   {}:{}", j.provider, j.backend)?;
        writeln!(out, "shots     {}", j.shots)?;
        writeln!(
            out,
            "cost      {}",
            j.cost_estimate.as_deref().unwrap_or("no estimate")
        )?;
    }
    writeln!(
        out,
        "asked by  {} (session {}, {} tier)",
        r.requested_by, r.subject.session, r.subject.tier
    )?;
    writeln!(out, "asked     {}", field("created"))?;
    writeln!(out, "expires   {}", field("expires"))?;
    writeln!(out, "needs     {}", field("needs"))?;
    writeln!(out, "digest    {}", field("request_digest"))?;
    match (&outcome, &status) {
        (Some(o), _) => writeln!(out, "status    {} ({})", o.result, o.detail)?,
        (
            None,
            Status::Pending {
                approved_by,
                needed,
            },
        ) => writeln!(
            out,
            "status    pending: {} of {needed} approval(s){}",
            approved_by.len(),
            if approved_by.is_empty() {
                String::new()
            } else {
                format!(" ({})", approved_by.join(", "))
            }
        )?,
        (None, s) => writeln!(out, "status    {}", s.name())?,
    }
    writeln!(
        out,
        "\napprove:  qwarden approvals approve {id} --key ~/.ssh/id_ed25519{}",
        if r.rule.second_factor {
            " --totp CODE"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "   or:    qwarden approvals show {id} --message approve > {id}.txt && ssh-keygen -Y sign -n qwarden-approval -f KEY {id}.txt && qwarden approvals approve {id} --signature {id}.txt.sig"
    )?;
    Ok(Code::Ok)
}

/// Records a refused vote in the ledger (best effort: the refusal itself is the answer).
fn record_refusal(dirs: &Dirs, profile: &Profile, id: &str, decision: Decision, why: &str) {
    let event = Event::new(
        Timestamp::now(),
        Violation {
            attempted: format!("{} approval request {id}", decision.as_str()),
            control: "approvals".into(),
            target: Some(why.to_owned()),
            pid: None,
        },
    );
    if let Err(e) = crate::record::record(dirs, profile, &event) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "qwarden: warning: this refusal was not recorded in the audit ledger: {e:#}"
        );
    }
}

fn cast(
    dirs: &Dirs,
    store: &Store,
    profile: &Profile,
    id: &str,
    decision: Decision,
    how: &VoteArgs,
    totp: Option<&str>,
) -> Result<Code, Failure> {
    let refuse = |why: String| {
        record_refusal(dirs, profile, id, decision, &why);
        Failure::denied(anyhow!("{why}"))
    };
    let request = store.get(id).map_err(Failure::invalid)?;
    if let Some(o) = store.outcome(id).map_err(Failure::invalid)? {
        return Err(refuse(format!(
            "request {id} has already been acted on ({}: {})",
            o.result, o.detail
        )));
    }
    let now = OffsetDateTime::now_utc();
    let votes = store.votes(id).map_err(Failure::invalid)?;
    match tally::status(&request, &profile.approvers, &votes, now) {
        Status::Expired => return Err(refuse(VoteError::Expired(id.to_owned()).to_string())),
        Status::Denied { .. } => {
            return Err(refuse(
                VoteError::Closed {
                    id: id.to_owned(),
                    status: "denied",
                }
                .to_string(),
            ));
        }
        Status::Approved { .. } | Status::Pending { .. } => {}
    }
    let armored = signed(&request, decision, how)?;
    let signer = tally::verify(&request, &profile.approvers, decision, &armored, now)
        .map_err(|e| refuse(e.to_string()))?;
    let step = if decision == Decision::Approve && request.rule.second_factor {
        let Some(code) = totp else {
            return Err(refuse(
                VoteError::SecondFactorMissing(id.to_owned()).to_string(),
            ));
        };
        let unix = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        match store.check_totp(&signer.approver, code, unix) {
            Ok(step) => Some(step),
            Err(e @ (StoreError::Totp(_) | StoreError::NotEnrolled(_))) => {
                return Err(refuse(format!(
                    "second factor of {} refused: {e}",
                    signer.approver
                )));
            }
            Err(e) => return Err(Failure::invalid(e)),
        }
    } else {
        None
    };
    let vote = Vote {
        approver: signer.approver.clone(),
        fingerprint: signer.fingerprint.clone(),
        decision,
        signature: armored,
        second_factor_step: step,
        at: now,
    };
    store.cast(id, &vote).map_err(Failure::invalid)?;
    let event = Event::new(
        Timestamp::now(),
        Approval {
            request_id: id.to_owned(),
            approver: signer.approver.clone(),
            decision: match decision {
                Decision::Approve => ApprovalDecision::Approve,
                Decision::Deny => ApprovalDecision::Reject,
            },
            request_digest: request.digest().ok().and_then(|d| d.parse().ok()),
        },
    )
    .with_session(&request.subject.session)
    .with_agent(&request.subject.agent)
    .with_details(json!({
        "fingerprint": signer.fingerprint,
        "second_factor": step.map(|s| json!({"method": "totp", "step": s})),
    }));
    if let Err(e) = crate::record::record(dirs, profile, &event) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "qwarden: warning: this vote was not recorded in the audit ledger: {e:#}"
        );
    }
    let votes = store.votes(id).map_err(Failure::invalid)?;
    let status = tally::status(&request, &profile.approvers, &votes, now);
    writeln!(
        std::io::stdout().lock(),
        "{} {}d request {id} ({}); it is now {}",
        signer.approver,
        decision.as_str(),
        request.action.describe(),
        match &status {
            Status::Pending {
                approved_by,
                needed,
            } => format!("pending: {} of {needed} approval(s)", approved_by.len()),
            s => s.name().to_owned(),
        }
    )?;
    Ok(Code::Ok)
}

/// The vote's signature: handed in, or made now with the approver's key.
fn signed(
    request: &ApprovalRequest,
    decision: Decision,
    how: &VoteArgs,
) -> Result<String, Failure> {
    if let Some(path) = &how.signature {
        return std::fs::read_to_string(path).map_err(|e| {
            Failure::invalid(anyhow!("cannot read signature `{}`: {e}", path.display()))
        });
    }
    let Some(key) = &how.key else {
        return Err(Failure::usage(anyhow!(
            "pass --key KEY to sign, or --signature FILE made with `ssh-keygen -Y sign -n qwarden-approval`"
        )));
    };
    let signing_key = super::manifest::signing_key(key, how.passphrase_file.as_deref())?;
    let message = request.message(decision).map_err(Failure::invalid)?;
    qwarden_policy::signature::sign(
        message.as_bytes(),
        qwarden_approvals::NAMESPACE,
        &signing_key,
    )
    .map_err(Failure::invalid)
}

fn enroll(store: &Store, profile: &Profile, name: &str) -> Result<Code, Failure> {
    if !profile.approvers.iter().any(|a| a.name == name) {
        return Err(Failure::invalid(anyhow!(
            "`{name}` is not an approver in the workstation profile; add them under [[approvers]] first"
        )));
    }
    let secret = store.enroll(name).map_err(Failure::invalid)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "scan this into {name}'s authenticator app (or type the secret):\n{}\nsecret: {}",
        secret.provisioning_uri("qwarden", name),
        secret.to_base32()
    )?;
    Ok(Code::Ok)
}
