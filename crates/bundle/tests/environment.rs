//! The environment lock against the real thing: wheels built here with Python's `zipfile`,
//! installed by Debian's pip into venvs made by Debian's Python, locked, read back by Python's
//! `tomllib` and checked against PEP 751's rules, and rebuilt offline from the lock and the
//! wheel directory; and every refusal a rebuild makes before it installs anything.
//!
//! Nothing here touches the network: pip runs with `--no-index` and a cleared environment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use qwarden_bundle::environment::{
    EnvChange, EnvironmentError, EnvironmentManifest, collect, drift, read, rebuild, session_python,
};
use sha2::{Digest as _, Sha256};

/// The interpreter the tests use: Debian's, with Debian's pip.
const PYTHON: &str = "/usr/bin/python3";

/// Builds a `py3-none-any` wheel: a module, `METADATA`, `WHEEL` and a `RECORD` hashing them.
const MAKE_WHEEL: &str = r#"
import base64, hashlib, sys, zipfile
name, version, out, body = sys.argv[1:5]
dist = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": body.encode(),
    f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: qwarden-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def row(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"
files[f"{dist}/RECORD"] = ("".join(row(p, b) for p, b in files.items()) + f"{dist}/RECORD,,\n").encode()
with zipfile.ZipFile(out, "w") as z:
    for path, data in files.items():
        z.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data)
"#;

/// Reads a pylock.toml with `tomllib`, checks it against PEP 751's rules for what this crate
/// writes, and prints it as JSON.
const CHECK_PYLOCK: &str = r#"
import hashlib, json, os, re, sys, tomllib
with open(sys.argv[1], "rb") as f:
    lock = tomllib.load(f)
problems = []
def need(table, key, kind, at):
    if key not in table:
        problems.append(f"{at}{key} is required")
    elif not isinstance(table[key], kind):
        problems.append(f"{at}{key} is not {kind.__name__}")
need(lock, "lock-version", str, "")
need(lock, "created-by", str, "")
need(lock, "packages", list, "")
if lock.get("lock-version") != "1.0":
    problems.append("lock-version is not 1.0")
names = [p.get("name") for p in lock.get("packages", [])]
if names != sorted(names):
    problems.append("packages are not sorted")
for i, p in enumerate(lock.get("packages", [])):
    at = f"packages[{i}]."
    need(p, "name", str, at)
    if re.sub(r"[-_.]+", "-", p.get("name", "")).lower() != p.get("name"):
        problems.append(f"{at}name is not normalised")
    trees = [k for k in ("vcs", "directory", "archive") if k in p]
    if len(trees) > 1 or (trees and ("wheels" in p or "sdist" in p)):
        problems.append(f"{at} has sources that exclude each other")
    if not trees and "wheels" not in p and "sdist" not in p:
        problems.append(f"{at} has no source")
    for j, w in enumerate(p.get("wheels", [])):
        wat = f"{at}wheels[{j}]."
        if "url" not in w and "path" not in w:
            problems.append(f"{wat} has neither url nor path")
        need(w, "hashes", dict, wat)
        hashes = w.get("hashes", {})
        if not hashes or not any(a in hashlib.algorithms_guaranteed for a in hashes):
            problems.append(f"{wat}hashes has no guaranteed algorithm")
        if "path" in w:
            with open(w["path"], "rb") as f:
                data = f.read()
            if hashlib.sha256(data).hexdigest() != hashes.get("sha256"):
                problems.append(f"{wat}hashes.sha256 is not the file's")
            if w.get("size") != len(data):
                problems.append(f"{wat}size is not the file's")
            if w.get("name") != os.path.basename(w["path"]):
                problems.append(f"{wat}name is not the file's")
    tool = p.get("tool", {})
    if set(tool) - {"qwarden"}:
        problems.append(f"{at}tool has another tool's table")
if problems:
    sys.exit("\n".join(problems))
print(json.dumps(lock, sort_keys=True))
"#;

fn python() -> PathBuf {
    let python = PathBuf::from(PYTHON);
    assert!(
        python.is_file(),
        "{PYTHON} is missing: these tests need Debian's Python and pip (`apt-get install python3 python3-pip`)"
    );
    python
}

/// Runs Debian's Python with a cleared environment (no `PIP_FIND_LINKS`, no index, no pip
/// configuration) and returns its standard output, failing the test with its standard error.
fn py<S: AsRef<OsStr>>(args: &[S]) -> String {
    let home = std::env::temp_dir();
    let out = Command::new(python())
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INDEX", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{PYTHON} {:?} failed:\n{}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn make_wheel(dir: &Path, name: &str, version: &str, body: &str) -> PathBuf {
    let out = dir.join(format!("{name}-{version}-py3-none-any.whl"));
    py(&[
        OsStr::new("-c"),
        OsStr::new(MAKE_WHEEL),
        OsStr::new(name),
        OsStr::new(version),
        out.as_os_str(),
        OsStr::new(body),
    ]);
    out
}

/// A venv at `env` with `wheels` installed by pip, as a person would.
fn venv_with(env: &Path, wheels: &[PathBuf]) {
    let pip = py(&["-m", "pip", "--version"]);
    assert!(
        pip.starts_with("pip "),
        "pip for {PYTHON} is missing: `apt-get install python3-pip`"
    );
    py(&[
        OsStr::new("-m"),
        OsStr::new("venv"),
        OsStr::new("--without-pip"),
        env.as_os_str(),
    ]);
    let mut args: Vec<&OsStr> = ["-m", "pip", "--python"].map(OsStr::new).to_vec();
    let env_python = env.join("bin/python");
    args.push(env_python.as_os_str());
    args.extend(
        [
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-cache-dir",
        ]
        .map(OsStr::new),
    );
    args.extend(wheels.iter().map(|w| w.as_os_str()));
    py(&args);
}

struct Setup {
    tmp: tempfile::TempDir,
    wheels: PathBuf,
    env: PathBuf,
}

impl Setup {
    fn target(&self) -> PathBuf {
        self.tmp.path().join("rebuilt")
    }

    fn site(&self) -> PathBuf {
        let sites: Vec<PathBuf> = std::fs::read_dir(self.env.join("lib"))
            .unwrap()
            .map(|e| e.unwrap().path().join("site-packages"))
            .collect();
        sites[0].clone()
    }
}

/// Two wheels in a wheel directory, both installed into a venv.
fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let demo = make_wheel(&wheels, "demo_pkg", "1.0", "VERSION = '1.0'\n");
    let probe = make_wheel(
        &wheels,
        "qwarden_probe",
        "0.2",
        "def probe():\n    return 2\n",
    );
    let env = tmp.path().join("env");
    venv_with(&env, &[demo, probe]);
    Setup { tmp, wheels, env }
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// What must survive a rebuild: each distribution's name, version and digests.
fn digests(m: &EnvironmentManifest) -> Vec<(String, String, Option<String>, Option<String>)> {
    m.distributions
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                d.version.clone(),
                d.record_sha256.clone(),
                d.files_sha256.clone(),
            )
        })
        .collect()
}

#[test]
fn lock_read_back_by_tomllib_then_rebuilt_offline_with_the_same_files() {
    let s = setup();
    let m = collect(&s.env, "sandbox", Some(&s.wheels)).unwrap();

    // The lock, as Python reads it and as PEP 751 says.
    let lock_file = s.tmp.path().join("pylock.toml");
    std::fs::write(&lock_file, &m.pylock).unwrap();
    let by_python: serde_json::Value = serde_json::from_str(&py(&[
        OsStr::new("-c"),
        OsStr::new(CHECK_PYLOCK),
        lock_file.as_os_str(),
    ]))
    .unwrap();
    let by_rust: toml::Table = toml::from_str(&m.pylock).unwrap();
    assert_eq!(by_python, serde_json::to_value(&by_rust).unwrap());
    assert_eq!(by_rust["created-by"].as_str(), Some("qwarden"));
    let version = m.python.version.clone().unwrap();
    let minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
    assert_eq!(
        by_rust["requires-python"].as_str(),
        Some(format!("=={minor}.*").as_str())
    );
    assert_eq!(
        by_rust["tool"]["qwarden"]["installable"].as_bool(),
        Some(true)
    );
    let packages = by_rust["packages"].as_array().unwrap();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo-pkg", "qwarden-probe"]);
    for (p, file) in packages.iter().zip([
        "demo_pkg-1.0-py3-none-any.whl",
        "qwarden_probe-0.2-py3-none-any.whl",
    ]) {
        let wheel = &p["wheels"][0];
        assert_eq!(wheel["name"].as_str(), Some(file));
        assert_eq!(
            wheel["hashes"]["sha256"].as_str(),
            Some(sha256_file(&s.wheels.join(file)).as_str())
        );
        // pip recorded where the wheel came from (PEP 610), without a hash.
        assert!(wheel["url"].as_str().unwrap().starts_with("file:///"));
        assert_eq!(p["tool"]["qwarden"]["installer"].as_str(), Some("pip"));
    }
    assert!(
        m.distributions
            .iter()
            .all(|d| d.files.as_ref().unwrap().is_clean())
    );
    assert_eq!(m.python.kind.as_str(), "venv");

    // The manifest reads back as written.
    let manifest_file = s.tmp.path().join("environment.json");
    std::fs::write(&manifest_file, m.canonical_json().unwrap()).unwrap();
    assert_eq!(read(&manifest_file).unwrap(), m);

    // The rebuild.
    let rebuilt = rebuild(&m.pylock, &s.wheels, &s.target(), &python()).unwrap();
    let installed: Vec<(&str, &str, &str)> = rebuilt
        .installed
        .iter()
        .map(|w| (w.name.as_str(), w.version.as_str(), w.file.as_str()))
        .collect();
    assert_eq!(
        installed,
        [
            ("demo-pkg", "1.0", "demo_pkg-1.0-py3-none-any.whl"),
            ("qwarden-probe", "0.2", "qwarden_probe-0.2-py3-none-any.whl")
        ]
    );
    assert_eq!(
        rebuilt.installed[0].sha256,
        sha256_file(&s.wheels.join("demo_pkg-1.0-py3-none-any.whl"))
    );
    assert_eq!(digests(&rebuilt.manifest), digests(&m));
    assert!(
        rebuilt
            .manifest
            .distributions
            .iter()
            .all(|d| d.files.as_ref().unwrap().is_clean())
    );
    assert_eq!(rebuilt.manifest_digest, rebuilt.manifest.digest().unwrap());
    assert!(rebuilt.manifest_digest.starts_with("sha256:"));
    assert_eq!(rebuilt.prefix, std::fs::canonicalize(s.target()).unwrap());
    // What differs is where it is and the tier a rebuild does not know; nothing installed.
    for change in drift(&m, &rebuilt.manifest) {
        match &change {
            EnvChange::Host { field, .. } if field == "tier" => {}
            EnvChange::Python { field, .. } if field == "prefix" || field == "interpreter" => {}
            other => panic!("unexpected drift after a rebuild: {other}"),
        }
    }
    // The rebuilt environment runs.
    let out = Command::new(s.target().join("bin/python"))
        .args(["-c", "import qwarden_probe; print(qwarden_probe.probe())"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");

    // A rebuild never reuses a directory.
    let err = rebuild(&m.pylock, &s.wheels, &s.target(), &python()).unwrap_err();
    assert!(matches!(err, EnvironmentError::TargetExists(_)), "{err}");
}

#[test]
fn a_lock_without_a_wheel_directory_is_not_installable() {
    let s = setup();
    let m = collect(&s.env, "sandbox", None).unwrap();
    let lock: toml::Table = toml::from_str(&m.pylock).unwrap();
    assert_eq!(
        lock["tool"]["qwarden"]["installable"].as_bool(),
        Some(false)
    );
    let err = rebuild(&m.pylock, &s.wheels, &s.target(), &python()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, EnvironmentError::Refused { .. }), "{text}");
    assert!(
        text.contains("`demo-pkg` has no wheel with a hash"),
        "{text}"
    );
    assert!(text.contains("demo_pkg-1.0-py3-none-any.whl"), "{text}");
    assert!(!s.target().exists());
}

#[test]
fn a_wheel_whose_bytes_changed_is_refused_and_nothing_is_installed() {
    let s = setup();
    let m = collect(&s.env, "sandbox", Some(&s.wheels)).unwrap();
    make_wheel(
        &s.wheels,
        "demo_pkg",
        "1.0",
        "VERSION = 'not the one locked'\n",
    );
    let err = rebuild(&m.pylock, &s.wheels, &s.target(), &python()).unwrap_err();
    let text = err.to_string();
    match &err {
        EnvironmentError::HashMismatch {
            package,
            path,
            algorithm,
            ..
        } => {
            assert_eq!(package, "demo-pkg");
            assert!(path.ends_with("demo_pkg-1.0-py3-none-any.whl"));
            assert!(algorithm == "sha256" || algorithm == "size", "{algorithm}");
        }
        other => panic!("{other}"),
    }
    assert!(text.contains("nothing was installed"), "{text}");
    assert!(!s.target().exists());
}

#[test]
fn a_missing_wheel_is_refused_naming_the_package_and_file() {
    let s = setup();
    let m = collect(&s.env, "sandbox", Some(&s.wheels)).unwrap();
    std::fs::remove_file(s.wheels.join("qwarden_probe-0.2-py3-none-any.whl")).unwrap();
    let err = rebuild(&m.pylock, &s.wheels, &s.target(), &python()).unwrap_err();
    match &err {
        EnvironmentError::WheelMissing { package, file, .. } => {
            assert_eq!(package, "qwarden-probe");
            assert_eq!(file, "qwarden_probe-0.2-py3-none-any.whl");
        }
        other => panic!("{other}"),
    }
    assert!(!s.target().exists());
}

#[test]
fn a_modified_installed_file_is_drift() {
    let s = setup();
    let recorded = collect(&s.env, "sandbox", Some(&s.wheels)).unwrap();
    std::fs::write(
        s.site().join("demo_pkg/__init__.py"),
        "VERSION = 'patched'\n",
    )
    .unwrap();
    let current = collect(&s.env, "sandbox", Some(&s.wheels)).unwrap();
    assert_eq!(
        drift(&recorded, &current),
        [EnvChange::FileModified {
            package: "demo-pkg".into(),
            path: "demo_pkg/__init__.py".into(),
        }]
    );
    // The lock names wheels, not installed files: it stays the same.
    assert_eq!(recorded.pylock, current.pylock);
}

#[test]
fn a_lock_at_another_version_is_refused() {
    let s = setup();
    let m = collect(&s.env, "sandbox", Some(&s.wheels)).unwrap();
    let edited = m
        .pylock
        .replacen("\nversion = \"1.0\"\n", "\nversion = \"2.0\"\n", 1);
    assert_ne!(edited, m.pylock);
    let err = rebuild(&edited, &s.wheels, &s.target(), &python()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`demo-pkg` 2.0"), "{text}");
    assert!(text.contains("demo_pkg-1.0-py3-none-any.whl"), "{text}");
    assert!(!s.target().exists());

    // A wheel renamed to the locked version, its hash locked too: caught by pip or by the
    // check of what was installed, never accepted.
    let renamed = s.wheels.join("demo_pkg-2.0-py3-none-any.whl");
    std::fs::copy(s.wheels.join("demo_pkg-1.0-py3-none-any.whl"), &renamed).unwrap();
    let edited = edited.replace(
        "demo_pkg-1.0-py3-none-any.whl",
        "demo_pkg-2.0-py3-none-any.whl",
    );
    let err = rebuild(&edited, &s.wheels, &s.target(), &python()).unwrap_err();
    let text = err.to_string();
    match &err {
        EnvironmentError::Verify { problems, .. } => {
            assert!(
                problems.iter().any(|p| p.contains("installed at 1.0")),
                "{text}"
            );
        }
        EnvironmentError::Python { step, .. } => {
            assert_eq!(*step, "install the wheels with pip", "{text}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn malformed_locks_are_refused_before_anything_is_made() {
    let s = tempfile::tempdir().unwrap();
    let target = s.path().join("rebuilt");
    let good_head = "lock-version = \"1.0\"\ncreated-by = \"x\"\n";
    for (lock, says) in [
        ("[[packages]\nname = ", "line 1"),
        (
            "created-by = \"x\"\npackages = []\n",
            "`lock-version` is required",
        ),
        (
            "lock-version = \"1.0\"\npackages = []\n",
            "`created-by` is required",
        ),
        (
            &format!(
                "{good_head}[[packages]]\nname = \"demo-pkg\"\nwheels = [{{name = \"demo_pkg-1.0-py3-none-any.whl\", path = \"demo_pkg-1.0-py3-none-any.whl\"}}]\n"
            ),
            "`packages[0].wheels[0].hashes` is required",
        ),
        (
            &format!(
                "{good_head}[[packages]]\nname = \"demo-pkg\"\nversion = \"1.0\"\nwheels = [{{name = \"../demo_pkg-1.0-py3-none-any.whl\", path = \"x\", hashes = {{sha256 = \"00\"}}}}]\n"
            ),
            "not a wheel file name",
        ),
        (
            &format!(
                "{good_head}[[packages]]\nname = \"demo-pkg\"\nversion = \"1.0\"\nwheels = [{{name = \"demo_pkg-1.0-py3-none-any.whl\", path = \"x\", hashes = {{md5 = \"00\"}}}}]\n"
            ),
            "no SHA-256, SHA-384 or SHA-512",
        ),
        (
            &format!(
                "{good_head}environments = [\"sys_platform == 'linux' or os_name == 'nt'\"]\npackages = []\n"
            ),
            "cannot evaluate the marker",
        ),
        (
            &format!("{good_head}requires-python = \"==2.7.*\"\npackages = []\n"),
            "the lock requires Python `==2.7.*`",
        ),
        (
            &format!("{good_head}environments = [\"sys_platform == 'win32'\"]\npackages = []\n"),
            "no environment of the lock",
        ),
    ] {
        let wheels = s.path().join("wheels");
        std::fs::create_dir_all(&wheels).unwrap();
        std::fs::write(wheels.join("demo_pkg-1.0-py3-none-any.whl"), b"x").unwrap();
        let err = rebuild(lock, &wheels, &target, &python()).unwrap_err();
        assert!(
            matches!(
                err,
                EnvironmentError::Lock { .. } | EnvironmentError::Refused { .. }
            ),
            "{lock}: {err}"
        );
        assert!(err.to_string().contains(says), "{lock}: {err}");
        assert!(!target.exists());
    }
}

#[test]
fn the_session_python_is_the_first_python3_on_path() {
    let s = setup();
    let path = std::env::join_paths([s.env.join("bin"), PathBuf::from("/usr/bin")]).unwrap();
    assert_eq!(session_python(Some(&path), None).unwrap(), s.env);
    let path = std::env::join_paths(["/usr/bin"]).unwrap();
    let system = session_python(Some(&path), Some(s.env.as_os_str())).unwrap();
    assert_eq!(system, std::fs::canonicalize("/usr").unwrap());
    let m = collect(&system, "sandbox", None).unwrap();
    assert_eq!(m.python.kind.as_str(), "system");
    // Debian's own Python packages are there, and none can be installed from this lock.
    let lock: toml::Table = toml::from_str(&m.pylock).unwrap();
    let names: BTreeMap<&str, ()> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), ()))
        .collect();
    assert!(names.contains_key("pip"), "{:?}", names.keys());
}
