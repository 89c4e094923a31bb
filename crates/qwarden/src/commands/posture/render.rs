//! The report for people: a table with the details of what needs attention, or Markdown a
//! security team can paste into a ticket.

use std::io::Write;

use qwarden_bundle::inventory::diff::printable;
use qwarden_policy::Tier;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Check, Report, Status};
use crate::output::Table;

/// Fails first, then warnings: the checks that need attention, in the order to look at them.
fn attention(report: &Report) -> impl Iterator<Item = &Check> {
    let of = move |s: Status| report.checks.iter().filter(move |c| c.status == s);
    of(Status::Fail).chain(of(Status::Warn))
}

/// `4 of 8 applicable checks pass (3 fail, 1 warn; 2 not applicable)`.
fn score_line(report: &Report) -> String {
    format!(
        "{} of {} applicable checks pass ({} fail, {} warn; {} not applicable)",
        report.score.passed,
        report.score.applicable,
        report.count(Status::Fail),
        report.count(Status::Warn),
        report.count(Status::NotApplicable)
    )
}

/// The default output: one row per check, the score, then each failed or warned check's
/// evidence and fix.
pub fn table(report: &Report) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut table = Table::new(&["CHECK", "STATUS", "REASON"]);
    for c in &report.checks {
        table.row(vec![
            c.id.to_owned(),
            c.status.as_str().to_owned(),
            printable(&c.reason),
        ]);
    }
    table.write(&mut out)?;
    writeln!(out, "\nscore: {}", score_line(report))?;
    for c in attention(report) {
        writeln!(out, "\n{} ({}): {}", c.id, c.status.as_str(), c.title)?;
        for e in &c.evidence {
            writeln!(out, "  {}", printable(e))?;
        }
        if let Some(fix) = &c.fix {
            writeln!(out, "  fix: {}", printable(fix))?;
        }
    }
    Ok(())
}

/// `text` safe inside Markdown prose and table cells: one line, control characters shown as
/// escapes, the characters Markdown would read as formatting escaped, and `` `code` `` spans
/// kept as code (with `|` escaped in them too, for tables). With an odd number of backticks
/// nothing is taken as code.
fn md(text: &str) -> String {
    let text = printable(text).replace(['\n', '\r'], " ");
    let balanced = text.matches('`').count().is_multiple_of(2);
    let mut out = String::with_capacity(text.len());
    let mut code = false;
    for c in text.chars() {
        match c {
            '`' if balanced => {
                code = !code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            _ if code => out.push(c),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A fix as Markdown: a command in a code block, anything else as prose.
fn md_fix(out: &mut impl Write, fix: &str) -> std::io::Result<()> {
    let fix = printable(fix);
    let command = ["qwarden ", "chmod ", "sudo ", "chown ", "mkdir "]
        .iter()
        .any(|p| fix.starts_with(p))
        && !fix.contains('`');
    if command {
        writeln!(out, "Fix:\n\n```sh\n{fix}\n```\n")
    } else {
        writeln!(out, "Fix: {}\n", md(&fix))
    }
}

/// The Markdown report: a heading, the score, the table, then each failed and warned check
/// with its evidence and fix.
pub fn markdown(
    report: &Report,
    profile: &str,
    tier: Tier,
    now: OffsetDateTime,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this workstation".to_owned());
    writeln!(out, "# qwarden posture report: {}\n", md(&host))?;
    writeln!(
        out,
        "Tier **{tier}**, profile {}, checked {} with `qwarden posture`.\n",
        md(profile),
        now.replace_nanosecond(0)
            .unwrap_or(now)
            .format(&Rfc3339)
            .unwrap_or_default()
    )?;
    writeln!(out, "**Score: {}**\n", md(&score_line(report)))?;
    writeln!(out, "| Check | Status | Reason |")?;
    writeln!(out, "|---|---|---|")?;
    for c in &report.checks {
        let status = match c.status {
            Status::Pass | Status::NotApplicable => c.status.as_str().to_owned(),
            Status::Fail | Status::Warn => format!("**{}**", c.status.as_str()),
        };
        writeln!(
            out,
            "| `{}` — {} | {status} | {} |",
            c.id,
            md(c.title),
            md(&c.reason)
        )?;
    }
    let needs: Vec<&Check> = attention(report).collect();
    if needs.is_empty() {
        writeln!(out, "\nEvery applicable check passes.")?;
        return Ok(());
    }
    writeln!(out, "\n## Failed and warned checks\n")?;
    for c in needs {
        writeln!(out, "### `{}`: {}\n", c.id, c.status.as_str())?;
        writeln!(out, "{}\n", md(&c.reason))?;
        if !c.evidence.is_empty() {
            writeln!(out, "Evidence:\n")?;
            for e in &c.evidence {
                writeln!(out, "- {}", md(e))?;
            }
            writeln!(out)?;
        }
        if let Some(fix) = &c.fix {
            md_fix(&mut out, fix)?;
        }
    }
    Ok(())
}
