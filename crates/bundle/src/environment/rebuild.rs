//! Rebuilding an environment from a lock and a wheel directory, offline.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::lock::MAX_WHEEL_BYTES;
use super::pylock::{self, LockedFile, Package, Source, Target};
use super::wheel;
use super::{
    Distribution, EnvironmentError, EnvironmentManifest, MAX_LOCK_BYTES, collect, installed,
};

/// A wheel [`rebuild`] installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledWheel {
    /// The package's normalised name.
    pub name: String,
    /// Its version, as installed.
    pub version: String,
    /// The wheel's file name in the wheel directory.
    pub file: String,
    /// The wheel's lower-case hex SHA-256, checked against the lock before installing.
    pub sha256: String,
}

/// What [`rebuild`] made.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The new environment's canonical prefix.
    pub prefix: PathBuf,
    /// The wheels installed, by name.
    pub installed: Vec<InstalledWheel>,
    /// The new environment's manifest. A rebuild does not know the workstation's tier, so its
    /// `tier` is empty: [`collect`] the prefix with the tier for a manifest to keep.
    pub manifest: EnvironmentManifest,
    /// [`EnvironmentManifest::digest`] of `manifest`.
    pub manifest_digest: String,
}

/// The marker variables of an interpreter, printed as JSON; `-I -S` so that neither the
/// environment's variables nor its `.pth` files take part.
const PROBE: &str = "import json, os, platform, sys\n\
i = sys.implementation.version\n\
v = '%d.%d.%d' % (i.major, i.minor, i.micro)\n\
if i.releaselevel != 'final': v += i.releaselevel[0] + str(i.serial)\n\
print(json.dumps({'os_name': os.name, 'sys_platform': sys.platform,\n\
 'platform_machine': platform.machine(), 'platform_python_implementation': platform.python_implementation(),\n\
 'platform_release': platform.release(), 'platform_system': platform.system(),\n\
 'platform_version': platform.version(), 'python_version': '.'.join(platform.python_version_tuple()[:2]),\n\
 'python_full_version': platform.python_version(), 'implementation_name': sys.implementation.name,\n\
 'implementation_version': v}))";

/// Installs the packages `lock` lists into a new venv at `target`, from the wheels in `wheels`
/// only, with `python`, and checks the result.
///
/// In order, stopping at the first problem:
/// 1. `target` must not exist; the lock is read and checked ([`crate::environment`] says
///    what a lock holds); `python` is asked for its marker values (`-I -S`: its environment
///    variables and `.pth` files play no part), and the lock's `requires-python` and
///    `environments`, then each package's `marker` and `requires-python`, are evaluated for it.
///    Two packages of one name left after that are an ambiguity, refused.
/// 2. Each package's wheel is looked for in `wheels` by the exact file name the lock gives (a
///    `[packages.archive]` naming a wheel counts); exactly one of a package's wheels must be
///    there. Its name and version must be the package's, its size the lock's `size` when given,
///    and every SHA-256, SHA-384 or SHA-512 the lock gives must match (at least one must be
///    given). A package without wheels (a source tree, an sdist, or no source: see
///    "Hashes that cannot be known" in the module documentation) is refused: a rebuild never
///    builds anything. Until here nothing is written.
/// 3. `python -m venv --without-pip TARGET`: `--without-pip` because Debian's Python has no
///    `ensurepip` without `python3-venv`, and because a venv's own pip would be a package the
///    lock does not list. Then `python -m pip --python TARGET/bin/python install --no-index
///    --no-deps --no-build-isolation --require-hashes -r REQUIREMENTS` with the checked files
///    and their hashes, so that pip checks each file again as it reads it; pip runs with a
///    cleared environment (`PIP_NO_INDEX=1`, `PIP_CONFIG_FILE=/dev/null`, a fixed `PATH`), so
///    no index, `find-links` or configuration of the caller's can add a file. This needs pip
///    22.3 or later for `python` (Debian 12's `python3-pip` is 23.0).
/// 4. The new environment must hold every selected package at its locked version, with every
///    installed file matching its `RECORD`, and nothing else.
///
/// If step 3 or 4 fails, `target` is left as it is for inspection.
pub fn rebuild(
    lock: &str,
    wheels: &Path,
    target: &Path,
    python: &Path,
) -> Result<Rebuilt, EnvironmentError> {
    if lock.len() > MAX_LOCK_BYTES {
        return Err(EnvironmentError::Lock {
            reason: format!("it is larger than {MAX_LOCK_BYTES} bytes"),
            hint: "give the pylock.toml of one environment".to_owned(),
        });
    }
    if std::fs::symlink_metadata(target).is_ok() {
        return Err(EnvironmentError::TargetExists(target.to_path_buf()));
    }
    let lock = pylock::parse(lock)?;
    let interpreter = probe(python)?;
    let selected = select(&lock, &interpreter, python)?;
    let wheel_dir = std::fs::canonicalize(wheels).map_err(|source| EnvironmentError::Io {
        action: "open the wheel directory",
        path: wheels.to_path_buf(),
        source,
    })?;
    let mut checked = Vec::new();
    for package in &selected {
        checked.push(check_wheel(package, &wheel_dir)?);
    }

    // Made here rather than by `venv`, which would reuse a directory that appeared since the
    // check above: `create_dir` fails if anything is there.
    std::fs::create_dir(target).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => EnvironmentError::TargetExists(target.to_path_buf()),
        _ => EnvironmentError::Io {
            action: "create",
            path: target.to_path_buf(),
            source,
        },
    })?;
    run(
        python,
        &[
            "-I".into(),
            "-m".into(),
            "venv".into(),
            "--without-pip".into(),
            target.into(),
        ],
        None,
        "create the venv",
    )?;
    let prefix = std::fs::canonicalize(target).map_err(|source| EnvironmentError::Io {
        action: "open the new environment",
        path: target.to_path_buf(),
        source,
    })?;
    if !checked.is_empty() {
        install(python, &prefix, &checked)?;
    }
    let manifest = collect(&prefix, "", Some(&wheel_dir))?;
    verify(&prefix, &selected, &manifest.distributions)?;
    let manifest_digest = manifest.digest()?;
    let mut installed: Vec<InstalledWheel> = checked.into_iter().map(|c| c.wheel).collect();
    installed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Rebuilt {
        prefix,
        installed,
        manifest,
        manifest_digest,
    })
}

fn refuse(reason: String, hint: &str) -> EnvironmentError {
    EnvironmentError::Refused {
        reason,
        hint: hint.to_owned(),
    }
}

/// The interpreter's marker values.
fn probe(python: &Path) -> Result<Target, EnvironmentError> {
    let out = run(
        python,
        &["-I".into(), "-S".into(), "-c".into(), PROBE.into()],
        None,
        "ask the interpreter for its version and platform",
    )?;
    let values = serde_json::from_slice(&out).map_err(|e| EnvironmentError::Python {
        step: "read the interpreter's version and platform",
        command: format!("{} -I -S -c ...", python.display()),
        status: "printed something else".to_owned(),
        output: format!("\n    {e}"),
        hint: "give the path of a CPython 3 interpreter".to_owned(),
    })?;
    Ok(Target { values })
}

/// The packages to install for `target`, after `requires-python`, `environments` and markers.
fn select(
    lock: &pylock::Lock,
    target: &Target,
    python: &Path,
) -> Result<Vec<Package>, EnvironmentError> {
    let version = target.python().ok_or_else(|| {
        refuse(
            "the interpreter did not give a numeric version".to_owned(),
            "give the path of a CPython 3 interpreter",
        )
    })?;
    let other_python = "rebuild with an interpreter the lock is for";
    if let Some(spec) = &lock.requires_python
        && !pylock::specifier_holds(spec, &version).map_err(|e| refuse(e, other_python))?
    {
        return Err(refuse(
            format!(
                "the lock requires Python `{}`, and `{}` is {}",
                spec.escape_debug(),
                python.display(),
                join(&version)
            ),
            other_python,
        ));
    }
    if !lock.environments.is_empty() {
        let mut any = false;
        for marker in &lock.environments {
            any |= pylock::marker_holds(marker, target).map_err(|e| refuse(e, other_python))?;
        }
        if !any {
            return Err(refuse(
                format!(
                    "no environment of the lock ({}) is this interpreter's",
                    lock.environments.join("; ")
                ),
                "rebuild on the platform the lock was made on",
            ));
        }
    }
    let mut selected: Vec<Package> = Vec::new();
    for package in &lock.packages {
        if let Some(marker) = &package.marker
            && !pylock::marker_holds(marker, target).map_err(|e| refuse(e, other_python))?
        {
            continue;
        }
        if let Some(spec) = &package.requires_python
            && !pylock::specifier_holds(spec, &version).map_err(|e| refuse(e, other_python))?
        {
            return Err(refuse(
                format!(
                    "`{}` requires Python `{}`, and the interpreter is {}",
                    package.name,
                    spec.escape_debug(),
                    join(&version)
                ),
                other_python,
            ));
        }
        if selected.iter().any(|p| p.name == package.name) {
            return Err(refuse(
                format!(
                    "`{}` is listed more than once for this interpreter, so which to install is ambiguous",
                    package.name
                ),
                "lock an environment that has each package once",
            ));
        }
        selected.push(package.clone());
    }
    Ok(selected)
}

fn join(version: &[u64]) -> String {
    version
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A wheel that passed its checks.
struct Checked {
    path: PathBuf,
    hashes: Vec<(String, String)>,
    wheel: InstalledWheel,
}

fn check_wheel(package: &Package, dir: &Path) -> Result<Checked, EnvironmentError> {
    let files = match &package.source {
        Source::Wheels(files) => files,
        Source::Unsupported(what) => {
            return Err(refuse(
                format!(
                    "`{}` comes from {what}, and a rebuild installs wheels only: it never builds",
                    package.name
                ),
                "build a wheel of it, put it in the wheel directory and lock again",
            ));
        }
        Source::Missing => {
            return Err(refuse(
                format!(
                    "`{}` has no wheel with a hash in the lock ({})",
                    package.name,
                    package
                        .note
                        .as_deref()
                        .unwrap_or("the lock gives no source for it")
                ),
                "lock the environment again with a wheel directory holding its wheel",
            ));
        }
    };
    let mut present: Vec<(&LockedFile, PathBuf)> = Vec::new();
    for file in files {
        let plain = !file.name.contains(['/', '\0']) && !file.name.starts_with('.');
        let Some(parsed) = plain.then(|| wheel::parse_file_name(&file.name)).flatten() else {
            return Err(EnvironmentError::Lock {
                reason: format!(
                    "`{}` names the wheel `{}`, which is not a wheel file name",
                    package.name,
                    file.name.escape_debug()
                ),
                hint: "fix the wheel's `name` in the lock".to_owned(),
            });
        };
        let version_matches = package
            .version
            .as_deref()
            .is_none_or(|v| v.replace('-', "_").eq_ignore_ascii_case(&parsed.version));
        if parsed.name != package.name || !version_matches {
            return Err(refuse(
                format!(
                    "the lock lists `{}` {}, and its wheel `{}` is `{}` {}",
                    package.name,
                    package.version.as_deref().unwrap_or("(no version)"),
                    file.name,
                    parsed.name,
                    parsed.version
                ),
                "lock the environment again: the lock was changed or is not this environment's",
            ));
        }
        let path = dir.join(&file.name);
        if path.is_file() {
            present.push((file, path));
        }
    }
    let (file, path) = match present.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(EnvironmentError::WheelMissing {
                package: package.name.clone(),
                file: files
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join("` or `"),
                dir: dir.to_path_buf(),
            });
        }
        several => {
            let names: Vec<&str> = several.iter().map(|(f, _)| f.name.as_str()).collect();
            return Err(refuse(
                format!(
                    "several wheels of `{}` are in `{}` ({}), and a rebuild does not choose between platforms",
                    package.name,
                    dir.display(),
                    names.join(", ")
                ),
                "keep only the wheel for this interpreter in the wheel directory",
            ));
        }
    };
    let checkable: Vec<(String, String)> = file
        .hashes
        .iter()
        .filter(|(algorithm, _)| installed::hex_len(algorithm).is_some())
        .map(|(a, v)| (a.clone(), v.clone()))
        .collect();
    if checkable.is_empty() {
        return Err(refuse(
            format!(
                "the lock gives `{}` no SHA-256, SHA-384 or SHA-512 hash (only {})",
                file.name,
                file.hashes.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            "lock it again with a SHA-256 hash",
        ));
    }
    let also: Vec<&str> = checkable.iter().map(|(a, _)| a.as_str()).collect();
    let digest =
        wheel::hash_file(&path, MAX_WHEEL_BYTES, &also).map_err(|source| EnvironmentError::Io {
            action: "hash the wheel",
            path: path.clone(),
            source,
        })?;
    let mismatch =
        |algorithm: &str, expected: String, actual: String| EnvironmentError::HashMismatch {
            package: package.name.clone(),
            path: path.clone(),
            algorithm: algorithm.to_owned(),
            expected,
            actual,
        };
    if let Some(size) = file.size
        && size != digest.size
    {
        return Err(mismatch(
            "size",
            format!("{size} bytes"),
            format!("{} bytes", digest.size),
        ));
    }
    for (algorithm, expected) in &checkable {
        let actual = digest.hashes.get(algorithm).cloned().unwrap_or_default();
        if &actual != expected {
            return Err(mismatch(algorithm, expected.clone(), actual));
        }
    }
    Ok(Checked {
        wheel: InstalledWheel {
            name: package.name.clone(),
            version: package
                .version
                .clone()
                .or_else(|| wheel::parse_file_name(&file.name).map(|w| w.version))
                .unwrap_or_default(),
            file: file.name.clone(),
            sha256: digest.hashes.get("sha256").cloned().unwrap_or_default(),
        },
        path,
        hashes: checkable,
    })
}

/// `file://` and the path with every byte but `A-Z a-z 0-9 - . _ ~ /` percent-encoded, as
/// pip writes local paths, so that `direct_url.json` reads as it would after `pip install PATH`.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

fn install(python: &Path, prefix: &Path, checked: &[Checked]) -> Result<(), EnvironmentError> {
    let scratch = tempfile::tempdir().map_err(|source| EnvironmentError::Io {
        action: "create a temporary directory in",
        path: std::env::temp_dir(),
        source,
    })?;
    let mut requirements = String::new();
    for c in checked {
        requirements.push_str(&file_url(&c.path));
        for (algorithm, value) in &c.hashes {
            requirements.push_str(&format!(" --hash={algorithm}:{value}"));
        }
        requirements.push('\n');
    }
    let req_path = scratch.path().join("requirements.txt");
    std::fs::write(&req_path, requirements).map_err(|source| EnvironmentError::Io {
        action: "write",
        path: req_path.clone(),
        source,
    })?;
    let args: Vec<OsString> = [
        OsString::from("-I"),
        "-m".into(),
        "pip".into(),
        "--python".into(),
        prefix.join("bin/python").into(),
        "install".into(),
        "--no-index".into(),
        "--no-deps".into(),
        "--no-build-isolation".into(),
        "--require-hashes".into(),
        "--disable-pip-version-check".into(),
        "--no-input".into(),
        "--no-cache-dir".into(),
        "--no-warn-script-location".into(),
        "-r".into(),
        req_path.into(),
    ]
    .into();
    run(
        python,
        &args,
        Some(scratch.path()),
        "install the wheels with pip",
    )?;
    Ok(())
}

/// Every selected package installed at its version with clean files, and nothing else.
fn verify(
    prefix: &Path,
    selected: &[Package],
    dists: &[Distribution],
) -> Result<(), EnvironmentError> {
    let mut problems = Vec::new();
    for package in selected {
        let Some(d) = dists.iter().find(|d| d.name == package.name) else {
            problems.push(format!("`{}` is not installed", package.name));
            continue;
        };
        if let Some(version) = &package.version
            && !version
                .replace('-', "_")
                .eq_ignore_ascii_case(&d.version.replace('-', "_"))
        {
            problems.push(format!(
                "`{}` is installed at {}, and the lock says {version}",
                d.name, d.version
            ));
        }
        match &d.files {
            None => problems.push(format!("`{}` has no readable RECORD", d.name)),
            Some(check) if !check.is_clean() => problems.push(format!(
                "`{}` has files that do not match its RECORD: modified {:?}, missing {:?}, refused {:?}",
                d.name, check.modified_files, check.missing_files, check.refused_rows
            )),
            Some(_) => {}
        }
    }
    for d in dists {
        if !selected.iter().any(|p| p.name == d.name) {
            problems.push(format!(
                "`{}` {} is installed, and the lock does not list it",
                d.name, d.version
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EnvironmentError::Verify {
            target: prefix.to_path_buf(),
            problems,
        })
    }
}

/// Runs `python ARGS` with a cleared environment and no input, and returns what it printed on
/// standard output.
fn run(
    python: &Path,
    args: &[OsString],
    home: Option<&Path>,
    step: &'static str,
) -> Result<Vec<u8>, EnvironmentError> {
    let command = std::iter::once(python.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let home = home.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let output = Command::new(python)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("LC_ALL", "C.UTF-8")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PYTHONNOUSERSITE", "1")
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return Err(EnvironmentError::Python {
                step,
                command,
                status: format!("could not start: {e}"),
                output: String::new(),
                hint: "install Python 3 (Debian: `apt-get install python3`) or give the path of an interpreter".to_owned(),
            });
        }
    };
    if output.status.success() {
        return Ok(output.stdout);
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&output.stdout).into_owned();
    }
    let hint = if text.contains("No module named pip") {
        "install pip for that interpreter (Debian: `apt-get install python3-pip`)"
    } else if text.contains("no such option: --python") {
        "pip 22.3 or later is needed (`--python`); Debian 12's python3-pip has it"
    } else if step == "create the venv" {
        "the interpreter needs its `venv` module (Debian: `libpython3.X-stdlib`, installed with python3)"
    } else {
        "the output above says what went wrong"
    };
    Err(EnvironmentError::Python {
        step,
        command,
        status: match output.status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was stopped by a signal".to_owned(),
        },
        output: tail(&text),
        hint: hint.to_owned(),
    })
}

/// The last 2,000 characters of `text`, indented on new lines.
fn tail(text: &str) -> String {
    let chars: Vec<char> = text.trim_end().chars().collect();
    let start = chars.len().saturating_sub(2000);
    let kept: String = chars.get(start..).unwrap_or_default().iter().collect();
    kept.lines().map(|l| format!("\n    {l}")).collect()
}
