//! `qwarden inventory`: take the workstation inventory, print it or write it, and show the drift
//! between two. The inventory itself is `qwarden_bundle::inventory`; this reads the tier from the
//! profile, picks the search roots, and prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use qwarden_bundle::inventory::diff::printable;
use qwarden_bundle::inventory::{
    self, Change, DeviceKind, FileCheck, Inventory, InventoryError, Options, PythonEnv,
};
use serde::Serialize;

use crate::cli::{InventoryArgs, InventoryCommand};
use crate::dirs::Dirs;
use crate::exit::{Code, Failure};
use crate::output::Table;

/// Runs `qwarden inventory` or `qwarden inventory diff`.
pub fn run(dirs: &Dirs, args: InventoryArgs) -> Result<Code, Failure> {
    if let Some(InventoryCommand::Diff { old, new, json }) = args.command {
        return diff(&old, &new, json);
    }
    let tier = super::policy::load_profile(dirs, args.profile.as_deref(), None)?
        .profile
        .tier
        .to_string();
    let roots = if args.roots.is_empty() {
        let mut roots: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
        roots.push(dirs.home.clone());
        roots
    } else {
        args.roots
    };
    let mut options = Options::new(tier, &dirs.home, roots);
    options.max_depth = usize::try_from(args.depth).unwrap_or(inventory::DEFAULT_MAX_DEPTH);
    let inv = inventory::collect(&options);
    if let Some(path) = &args.write {
        // `--write STATE/inventory.json` on a fresh workstation: the directory may not exist yet.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                Failure::invalid(anyhow::anyhow!("cannot create `{}`: {e}", parent.display()))
            })?;
        }
        let digest = inv.write(path).map_err(failure)?;
        if args.json {
            crate::output::json(&Written {
                path: path.display().to_string(),
                sha256: digest,
            })?;
        } else {
            writeln!(std::io::stdout().lock(), "{digest}  {}", path.display())?;
        }
    } else if args.json {
        crate::output::json(&inv)?;
    } else {
        summary(&inv)?;
    }
    Ok(Code::Ok)
}

#[derive(Serialize)]
struct Written {
    path: String,
    sha256: String,
}

/// An inventory file and its digest, in `diff --json`.
#[derive(Serialize)]
struct Side {
    path: String,
    sha256: String,
}

#[derive(Serialize)]
struct DiffReport<'a> {
    old: Side,
    new: Side,
    drift: bool,
    changes: &'a [Change],
}

fn failure(e: InventoryError) -> Failure {
    match e {
        InventoryError::Canonical(_) => Failure::internal(e),
        _ => Failure::invalid(e),
    }
}

fn load(path: &Path) -> Result<(Inventory, Side), Failure> {
    let inv = inventory::read(path).map_err(failure)?;
    let sha256 = inv.digest().map_err(failure)?;
    let side = Side {
        path: path.display().to_string(),
        sha256,
    };
    Ok((inv, side))
}

fn diff(old: &Path, new: &Path, json: bool) -> Result<Code, Failure> {
    let (old_inv, old) = load(old)?;
    let (new_inv, new) = load(new)?;
    let changes = inventory::diff(&old_inv, &new_inv);
    let code = if changes.is_empty() {
        Code::Ok
    } else {
        Code::Verification
    };
    if json {
        crate::output::json(&DiffReport {
            old,
            new,
            drift: !changes.is_empty(),
            changes: &changes,
        })?;
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "old  {}  {}", old.sha256, old.path)?;
    writeln!(out, "new  {}  {}", new.sha256, new.path)?;
    if changes.is_empty() {
        writeln!(out, "no drift")?;
    } else {
        writeln!(out, "{} change(s):", changes.len())?;
        for c in &changes {
            writeln!(out, "  {c}")?;
        }
    }
    Ok(code)
}

fn none(v: Option<&str>) -> String {
    v.map_or_else(|| "(unknown)".to_owned(), printable)
}

/// The inventory for people.
fn summary(inv: &Inventory) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let os = inv.os.pretty_name.as_deref().or(inv.os.id.as_deref());
    writeln!(out, "tier      {}", printable(&inv.tier))?;
    writeln!(out, "host      {}", none(inv.hostname.as_deref()))?;
    writeln!(out, "os        {}", none(os))?;
    writeln!(
        out,
        "kernel    {} {}",
        none(inv.kernel.release.as_deref()),
        inv.kernel
            .version
            .as_deref()
            .map(printable)
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "cpu       {} x {}",
        inv.cpu.count,
        none(inv.cpu.model.as_deref())
    )?;
    writeln!(out, "sha256    {}", inv.digest().map_err(failure)?)?;
    writeln!(out)?;
    if inv.pci_devices.is_empty() {
        writeln!(out, "no PCI devices found")?;
    } else {
        let mut table = Table::new(&["PCI DEVICE", "VENDOR:DEVICE", "CLASS", "DRIVER", "KIND"]);
        for d in &inv.pci_devices {
            table.row(vec![
                printable(&d.address),
                format!(
                    "{}:{}",
                    none(d.vendor.as_deref()),
                    none(d.device.as_deref())
                ),
                none(d.class.as_deref()),
                d.driver
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), printable),
                d.kind.map_or("-", DeviceKind::as_str).to_owned(),
            ]);
        }
        table.write(&mut out)?;
    }
    let modules = if inv.kernel_modules.is_empty() {
        "none".to_owned()
    } else {
        printable(&inv.kernel_modules.join(", "))
    };
    writeln!(out, "vendor kernel modules: {modules}\n")?;
    environments(&mut out, &inv.python_environments)?;
    writeln!(out)?;
    if inv.provider_config_files.is_empty() {
        writeln!(out, "no provider configuration files found")?;
    } else {
        writeln!(out, "provider configuration files (present; never read):")?;
        for f in &inv.provider_config_files {
            writeln!(
                out,
                "  {:<10} {}",
                printable(&f.provider),
                printable(&f.path)
            )?;
        }
    }
    let truncated = if inv.search.truncated {
        " (cut short: too many directories)"
    } else {
        ""
    };
    writeln!(
        out,
        "\nsearched {} directories deep under: {}{truncated}",
        inv.search.max_depth,
        printable(&inv.search.roots.join(", "))
    )?;
    Ok(())
}

fn files(check: Option<&FileCheck>) -> String {
    let Some(c) = check else {
        return "no RECORD: not checked".to_owned();
    };
    let mut parts = vec![format!("{} ok", c.ok)];
    for (n, what) in [
        (c.modified, "modified"),
        (c.missing, "missing"),
        (c.refused, "refused"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

fn environments(out: &mut impl Write, envs: &[PythonEnv]) -> Result<(), Failure> {
    if envs.is_empty() {
        writeln!(out, "no Python environments found")?;
        return Ok(());
    }
    let mut table = Table::new(&[
        "PYTHON ENVIRONMENT",
        "KIND",
        "PYTHON",
        "QUANTUM PACKAGE",
        "VERSION",
        "FILES",
    ]);
    let mut problems = Vec::new();
    for env in envs {
        let mut first = vec![
            printable(&env.path),
            env.kind.as_str().to_owned(),
            none(env.python.as_deref()),
        ];
        if env.quantum_packages.is_empty() {
            first.push("-".to_owned());
            table.row(first);
            continue;
        }
        for p in &env.quantum_packages {
            let mut row = std::mem::replace(&mut first, vec![String::new(); 3]);
            row.extend([
                printable(&p.name),
                printable(&p.version),
                files(p.files.as_ref()),
            ]);
            table.row(row);
            let Some(c) = &p.files else { continue };
            let listed = [
                ("modified", &c.modified_files),
                ("missing", &c.missing_files),
                ("refused", &c.refused_rows),
            ];
            for (what, list) in listed {
                for f in list {
                    problems.push(format!(
                        "  {what}: {} ({} in {})",
                        printable(f),
                        printable(&p.name),
                        printable(&env.path)
                    ));
                }
            }
        }
    }
    table.write(out)?;
    if !problems.is_empty() {
        writeln!(out, "\ninstalled files that do not match their RECORD:")?;
        for p in problems {
            writeln!(out, "{p}")?;
        }
    }
    Ok(())
}
