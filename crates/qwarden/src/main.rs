//! `qwarden`: the command-line interface. It parses arguments, calls the library crates, prints the
//! result (a table or `--json`) and exits with a code that tells success, denial, invalid input,
//! failed verification and internal errors apart. No policy logic lives here.

mod cli;
mod commands;
mod dirs;
mod exit;
mod output;
mod record;

use std::io::Write;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // The sandbox's init is this same binary, started by `qwarden run` with a control socket.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == commands::SANDBOX_INIT)
    {
        let code = qwarden_sandbox::init::main_inherited();
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(125));
    }
    let cli = cli::Cli::parse();
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            if failure.is_broken_pipe() {
                return std::process::ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "qwarden: {}", printable(&failure.to_string()));
            failure.code() as u8
        }
    };
    std::process::ExitCode::from(code)
}

/// `text` with control characters other than newline and tab escaped: error messages quote
/// untrusted input (a member name in someone's bundle archive, a field of a manifest), which must
/// not be able to send escape sequences to the user's terminal.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = c.is_control() && c != '\n' && c != '\t';
            let shown: Vec<char> = if escape {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}
