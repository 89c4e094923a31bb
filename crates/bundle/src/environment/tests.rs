//! Unit tests of the pure parts: wheel names, `direct_url.json`, TOML strings, markers and
//! specifiers, the lock reader's refusals, and the lock written for synthetic environments.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::installed::{DirectUrl, parse_direct_url, strip_credentials};
use super::lock::basic;
use super::pylock::{self, Source, Target, marker_holds, specifier_holds};
use super::wheel::{WheelTags, file_name, parse_file_name, parse_wheel_metadata};
use super::{EnvChange, EnvironmentError, FORMAT, collect, drift, parse, session_python};

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn record_line(path: &str, bytes: &[u8]) -> String {
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
    format!("{path},sha256={digest},{}\n", bytes.len())
}

/// A venv at `dir` (Python 3.11.4), returning its site-packages.
fn venv(dir: &Path) -> PathBuf {
    write(
        &dir.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.11.4\nexecutable = /usr/bin/python3.11\n",
    );
    let site = dir.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    site
}

/// Installs `name` `version` into `site` as pip would from a `py3-none-any` wheel: a module,
/// `METADATA`, `WHEEL`, `INSTALLER`, the `extra` files of the `.dist-info`, and a `RECORD`.
fn install(site: &Path, name: &str, version: &str, extra: &[(&str, &str)]) -> PathBuf {
    let escaped = name.replace(['-', '.'], "_");
    let dir = format!("{escaped}-{version}.dist-info");
    let module = format!("{}/__init__.py", escaped.to_lowercase());
    let mut files: Vec<(String, String)> = vec![
        (module, format!("VERSION = '{version}'\n")),
        (
            format!("{dir}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
        ),
        (
            format!("{dir}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
        (format!("{dir}/INSTALLER"), "pip\n".to_owned()),
    ];
    for (file, text) in extra {
        files.push((format!("{dir}/{file}"), (*text).to_owned()));
    }
    let mut record = String::new();
    for (path, text) in &files {
        write(&site.join(path), text);
        record.push_str(&record_line(path, text.as_bytes()));
    }
    record.push_str(&format!("{dir}/RECORD,,\n"));
    write(&site.join(&dir).join("RECORD"), record);
    site.join(dir)
}

fn table(lock: &str) -> toml::Table {
    toml::from_str(lock).unwrap()
}

fn packages(lock: &str) -> Vec<toml::Table> {
    table(lock)["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_table().unwrap().clone())
        .collect()
}

#[test]
fn wheel_names_are_rebuilt_from_their_tags() {
    let tags = |lines: &str| parse_wheel_metadata(lines.as_bytes());
    assert_eq!(
        file_name("Demo.Pkg", "1.0", &tags("Tag: py3-none-any\n")).as_deref(),
        Some("demo_pkg-1.0-py3-none-any.whl")
    );
    assert_eq!(
        file_name(
            "six",
            "1.16.0",
            &tags("Tag: py2-none-any\nTag: py3-none-any\n")
        )
        .as_deref(),
        Some("six-1.16.0-py2.py3-none-any.whl")
    );
    let numpy = tags(
        "Wheel-Version: 1.0\nBuild: 1\nTag: cp312-cp312-manylinux_2_17_x86_64\nTag: cp312-cp312-manylinux2014_x86_64\n",
    );
    assert_eq!(
        file_name("numpy", "2.0.1", &numpy).as_deref(),
        Some("numpy-2.0.1-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    );
    assert_eq!(
        file_name("x", "1.0-beta", &tags("Tag: py3-none-any\n")).as_deref(),
        Some("x-1.0_beta-py3-none-any.whl")
    );
    // No tags, a tag that is not three parts, a version that could make a path.
    assert_eq!(file_name("x", "1.0", &tags("Tag: py3-none\n")), None);
    assert_eq!(file_name("x", "1.0", &WheelTags::default()), None);
    assert_eq!(file_name("x", "../1", &tags("Tag: py3-none-any\n")), None);
    assert_eq!(
        tags("Tag: py3-none-any/..\nBuild: x1\n"),
        WheelTags::default()
    );
}

#[test]
fn wheel_file_names_are_read_and_expanded() {
    let parsed = parse_file_name("Demo_Pkg-1.0-2-py2.py3-none-any.whl").unwrap();
    assert_eq!(parsed.name, "demo-pkg");
    assert_eq!(parsed.version, "1.0");
    assert_eq!(parsed.build.as_deref(), Some("2"));
    assert_eq!(
        parsed.tags.iter().collect::<Vec<_>>(),
        ["py2-none-any", "py3-none-any"]
    );
    for bad in [
        "demo-1.0-py3-none.whl",
        "demo-1.0-py3-none-any.zip",
        "../x-1.0-py3-none-any.whl",
        "demo-1.0-x-py3-none-any.whl",
        "demo-1.0-a-b-py3-none-any.whl",
        "demo-1/0-py3-none-any.whl",
    ] {
        assert_eq!(parse_file_name(bad), None, "{bad}");
    }
}

#[test]
fn direct_url_json_is_read_as_pep_610_says() {
    let sha = "ab".repeat(32);
    let archive = format!(
        r#"{{"url": "https://user:secret@files.example/demo-1.0-py3-none-any.whl", "archive_info": {{"hashes": {{"sha256": "{}", "md5": "00"}}, "hash": "sha512=zz"}}}}"#,
        sha.to_uppercase()
    );
    assert_eq!(
        parse_direct_url(archive.as_bytes()),
        Some(DirectUrl::Archive {
            url: "https://files.example/demo-1.0-py3-none-any.whl".to_owned(),
            hashes: BTreeMap::from([("sha256".to_owned(), sha.clone())]),
            subdirectory: None,
        })
    );
    let legacy =
        format!(r#"{{"url": "file:///w/a.tar.gz", "archive_info": {{"hash": "sha256={sha}"}}}}"#);
    assert!(matches!(
        parse_direct_url(legacy.as_bytes()),
        Some(DirectUrl::Archive { hashes, .. }) if hashes.len() == 1
    ));
    assert_eq!(
        parse_direct_url(br#"{"url": "file:///src/demo", "dir_info": {"editable": true}}"#),
        Some(DirectUrl::Dir {
            url: "file:///src/demo".to_owned(),
            editable: true,
            subdirectory: None,
        })
    );
    assert_eq!(
        parse_direct_url(
            br#"{"url": "https://git.example/demo.git", "vcs_info": {"vcs": "git", "commit_id": "0123abc", "requested_revision": "main"}, "subdirectory": "py"}"#
        ),
        Some(DirectUrl::Vcs {
            url: "https://git.example/demo.git".to_owned(),
            vcs: "git".to_owned(),
            commit_id: "0123abc".to_owned(),
            requested_revision: Some("main".to_owned()),
            subdirectory: Some("py".to_owned()),
        })
    );
    for junk in [
        &br#"{"url": "x", "dir_info": {}, "archive_info": {}}"#[..],
        br#"{"dir_info": {}}"#,
        br#"{"url": 3, "dir_info": {}}"#,
        br#"{"url": "x", "vcs_info": {"vcs": "git"}}"#,
        b"not json",
        b"",
    ] {
        assert_eq!(parse_direct_url(junk), None);
    }
}

#[test]
fn credentials_are_stripped_from_urls() {
    assert_eq!(
        strip_credentials("https://me:token@host.example/simple/x.whl"),
        "https://host.example/simple/x.whl"
    );
    assert_eq!(strip_credentials("https://token@host/x"), "https://host/x");
    for kept in [
        "ssh://git@github.com/o/r.git",
        "https://${USER}:${TOKEN}@host/x",
        "https://host/a@b",
        "file:///w/x.whl",
        "no scheme@all",
    ] {
        assert_eq!(strip_credentials(kept), kept);
    }
}

#[test]
fn toml_strings_read_back_as_written() {
    for text in [
        "plain",
        "quote \" and backslash \\",
        "lines\nand\ttabs\r",
        "control \u{1} \u{1f} del \u{7f} c1 \u{85}",
        "unicode é ☃",
        "",
    ] {
        let doc = format!("k = {}\n", basic(text));
        assert_eq!(table(&doc)["k"].as_str(), Some(text), "{doc}");
    }
}

fn target(platform: &str, machine: &str, version: &str) -> Target {
    let mut values = BTreeMap::new();
    values.insert("sys_platform".to_owned(), platform.to_owned());
    values.insert("platform_machine".to_owned(), machine.to_owned());
    values.insert("python_full_version".to_owned(), version.to_owned());
    let (mm, _) = version.rsplit_once('.').unwrap();
    values.insert("python_version".to_owned(), mm.to_owned());
    Target { values }
}

#[test]
fn markers_of_the_supported_form_are_evaluated() {
    let linux = target("linux", "x86_64", "3.11.2");
    let ours = "sys_platform == 'linux' and platform_machine == 'x86_64'";
    assert_eq!(marker_holds(ours, &linux), Ok(true));
    assert_eq!(
        marker_holds(ours, &target("linux", "aarch64", "3.11.2")),
        Ok(false)
    );
    assert_eq!(marker_holds("sys_platform != \"win32\"", &linux), Ok(true));
    assert_eq!(marker_holds("python_version >= '3.8'", &linux), Ok(true));
    assert_eq!(
        marker_holds("python_full_version < '3.11.2'", &linux),
        Ok(false)
    );
    assert_eq!(
        marker_holds("platform_machine == 'a and b'", &linux),
        Ok(false)
    );
    for refused in [
        "sys_platform == 'linux' or sys_platform == 'darwin'",
        "(sys_platform == 'linux')",
        "extra == 'test'",
        "'linux' == sys_platform",
        "sys_platform in 'linux'",
        "sys_platform < 'linux'",
        "python_version >= '3.8rc1'",
        "",
    ] {
        let err = marker_holds(refused, &linux).unwrap_err();
        assert!(
            err.contains("cannot evaluate the marker"),
            "{refused}: {err}"
        );
    }
}

#[test]
fn python_specifiers_on_release_numbers() {
    let v = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap()).collect() };
    assert_eq!(specifier_holds("==3.11.*", &v("3.11.2")), Ok(true));
    assert_eq!(specifier_holds("==3.11.*", &v("3.12.0")), Ok(false));
    assert_eq!(specifier_holds(">=3.9, <3.14", &v("3.13.1")), Ok(true));
    assert_eq!(specifier_holds(">=3.9,<3.14", &v("3.14")), Ok(false));
    assert_eq!(specifier_holds("~=3.10", &v("3.12.1")), Ok(true));
    assert_eq!(specifier_holds("~=3.10.2", &v("3.11.0")), Ok(false));
    assert_eq!(specifier_holds("!=3.11.*", &v("3.11.9")), Ok(false));
    assert_eq!(specifier_holds("==3.11", &v("3.11.0")), Ok(true));
    assert_eq!(specifier_holds(">3.11", &v("3.11.0")), Ok(false));
    for refused in ["==3.11.0rc1", "===3.11.2", "3.11", "~=3", ">=3.*", ""] {
        assert!(specifier_holds(refused, &v("3.11.2")).is_err(), "{refused}");
    }
}

fn lock_reason(text: &str) -> String {
    match pylock::parse(text) {
        Err(EnvironmentError::Lock { reason, .. }) => reason,
        other => panic!("{text}: {other:?}"),
    }
}

const HEAD: &str = "lock-version = \"1.0\"\ncreated-by = \"t\"\n";

#[test]
fn malformed_locks_are_refused_with_the_key_named() {
    assert!(lock_reason("lock-version = ").contains("line 1"));
    assert!(
        lock_reason("created-by = \"t\"\n[[packages]]\nname = \"x\"\n")
            .contains("`lock-version` is required")
    );
    assert!(
        lock_reason("lock-version = \"2.0\"\ncreated-by = \"t\"\npackages = []\n")
            .contains("`2.0`")
    );
    assert!(
        lock_reason("lock-version = 1.0\ncreated-by = \"t\"\npackages = []\n")
            .contains("must be a string")
    );
    assert!(lock_reason(HEAD).contains("no `packages`"));
    assert!(lock_reason(&format!("{HEAD}packages = 3\n")).contains("array of tables"));
    assert!(
        lock_reason(&format!("{HEAD}[[packages]]\nname = \"Demo_Pkg\"\n"))
            .contains("not a normalised name")
    );
    assert!(
        lock_reason(&format!("{HEAD}[[packages]]\nversion = \"1\"\n"))
            .contains("`packages[0].name` is required")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = [{{name = \"x-1-py3-none-any.whl\", path = \"x-1-py3-none-any.whl\"}}]\n"
        ))
        .contains("`packages[0].wheels[0].hashes` is required")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = [{{name = \"x-1-py3-none-any.whl\", hashes = {{sha256 = \"00\"}}}}]\n"
        ))
        .contains("needs `path` or `url`")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = [{{path = \"w/x.whl\", hashes = {{}}}}]\n"
        ))
        .contains("is empty")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = [{{path = \"w/x.tar.gz\", hashes = {{sha256 = \"00\"}}}}]\n"
        ))
        .contains("not a wheel file name")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = [{{path = \"x-1-py3-none-any.whl\", size = -1, hashes = {{sha256 = \"00\"}}}}]\n"
        ))
        .contains("must not be negative")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = [{{path = \"x-1-py3-none-any.whl\", hashes = {{sha256 = \"00\"}}}}]\n[packages.directory]\npath = \"/src\"\n"
        ))
        .contains("exclude each other")
    );
    assert!(
        lock_reason(&format!(
            "{HEAD}[[packages]]\nname = \"x\"\nwheels = \"x\"\n"
        ))
        .contains("must be an array")
    );
}

#[test]
fn lock_sources_as_a_rebuild_sees_them() {
    let lock = pylock::parse(&format!(
        "{HEAD}requires-python = \"==3.11.*\"\nenvironments = [\"sys_platform == 'linux'\"]\n\
         [[packages]]\nname = \"a\"\nversion = \"1\"\n[packages.archive]\nurl = \"https://h/a-1-py3-none-any.whl?x=1\"\nhashes = {{sha256 = \"AB\"}}\n\
         [[packages]]\nname = \"b\"\n[packages.vcs]\ntype = \"git\"\nurl = \"https://h/b.git\"\ncommit-id = \"0a\"\n\
         [[packages]]\nname = \"c\"\nversion = \"1\"\n[packages.tool.qwarden]\nnot-installable = \"no hash\"\nwheel = \"c-1-py3-none-any.whl\"\n\
         [[packages]]\nname = \"d\"\nversion = \"1\"\nsdist = {{name = \"d-1.tar.gz\", path = \"d-1.tar.gz\", hashes = {{sha256 = \"00\"}}}}\n"
    ))
    .unwrap();
    assert_eq!(lock.requires_python.as_deref(), Some("==3.11.*"));
    assert_eq!(lock.environments, ["sys_platform == 'linux'"]);
    let [a, b, c, d] = lock.packages.as_slice() else {
        panic!("{:?}", lock.packages)
    };
    match &a.source {
        Source::Wheels(files) => {
            assert_eq!(files[0].name, "a-1-py3-none-any.whl");
            assert_eq!(files[0].hashes["sha256"], "ab");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        b.source,
        Source::Unsupported("a version control checkout")
    ));
    assert!(matches!(c.source, Source::Missing));
    assert_eq!(
        c.note.as_deref(),
        Some("no hash; it needs `c-1-py3-none-any.whl`")
    );
    assert!(matches!(d.source, Source::Unsupported("an sdist only")));
}

#[test]
fn a_lock_without_wheels_is_valid_toml_and_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(&tmp.path().join("env"));
    install(&site, "Demo.Pkg", "1.0", &[]);
    install(&site, "zeta", "0.3", &[]);
    let m = collect(&tmp.path().join("env"), "sandbox", None).unwrap();
    let t = table(&m.pylock);
    assert_eq!(t["lock-version"].as_str(), Some("1.0"));
    assert_eq!(t["created-by"].as_str(), Some("qwarden"));
    assert_eq!(t["requires-python"].as_str(), Some("==3.11.*"));
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert_eq!(
            t["environments"].as_array().unwrap()[0].as_str(),
            Some("sys_platform == 'linux' and platform_machine == 'x86_64'")
        );
    }
    let tool = t["tool"]["qwarden"].as_table().unwrap();
    assert_eq!(tool["installable"].as_bool(), Some(false));
    assert_eq!(
        tool["not-installable"].as_array().unwrap().len(),
        2,
        "{}",
        m.pylock
    );
    let pkgs = packages(&m.pylock);
    assert_eq!(pkgs[0]["name"].as_str(), Some("demo-pkg"));
    assert_eq!(pkgs[1]["name"].as_str(), Some("zeta"));
    for p in &pkgs {
        assert!(p.get("wheels").is_none() && p.get("archive").is_none());
        let q = p["tool"]["qwarden"].as_table().unwrap();
        assert!(
            q["not-installable"]
                .as_str()
                .unwrap()
                .contains("no wheel directory was given")
        );
        assert_eq!(q["installer"].as_str(), Some("pip"));
        assert_eq!(q["record-sha256"].as_str().unwrap().len(), 64);
    }
    assert_eq!(
        pkgs[0]["tool"]["qwarden"]["wheel"].as_str(),
        Some("demo_pkg-1.0-py3-none-any.whl")
    );
    // The manifest: the distributions, their RECORD digests and clean files.
    assert_eq!(m.format, FORMAT);
    assert_eq!(m.python.version.as_deref(), Some("3.11.4"));
    assert_eq!(
        m.python.base_interpreter.as_deref(),
        Some("/usr/bin/python3.11")
    );
    assert_eq!(m.distributions.len(), 2);
    for d in &m.distributions {
        assert!(d.files.as_ref().unwrap().is_clean());
        assert_eq!(
            d.record_sha256.as_deref(),
            Some(
                hex::encode(Sha256::digest(
                    std::fs::read(Path::new(&d.dist_info).join("RECORD")).unwrap()
                ))
                .as_str()
            )
        );
    }
    assert_eq!(
        m.pylock_sha256,
        hex::encode(Sha256::digest(m.pylock.as_bytes()))
    );
}

#[test]
fn a_wheel_directory_gives_the_lock_its_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(&tmp.path().join("env"));
    install(&site, "Demo.Pkg", "1.0", &[]);
    let wheels = tmp.path().join("wheels");
    // Another spelling of the same name, version and tags is the same wheel.
    write(
        &wheels.join("Demo.Pkg-1.0-py3-none-any.whl"),
        b"wheel bytes",
    );
    write(&wheels.join("demo_pkg-1.0-py2-none-any.whl"), b"other tags");
    write(
        &wheels.join("demo_pkg-1.1-py3-none-any.whl"),
        b"other version",
    );
    let m = collect(&tmp.path().join("env"), "sandbox", Some(&wheels)).unwrap();
    let pkgs = packages(&m.pylock);
    let wheel = pkgs[0]["wheels"].as_array().unwrap()[0].as_table().unwrap();
    assert_eq!(
        wheel["name"].as_str(),
        Some("Demo.Pkg-1.0-py3-none-any.whl")
    );
    assert_eq!(wheel["size"].as_integer(), Some(11));
    assert_eq!(
        wheel["hashes"]["sha256"].as_str(),
        Some(hex::encode(Sha256::digest(b"wheel bytes")).as_str())
    );
    assert!(
        wheel["path"]
            .as_str()
            .unwrap()
            .ends_with("/wheels/Demo.Pkg-1.0-py3-none-any.whl")
    );
    assert_eq!(
        table(&m.pylock)["tool"]["qwarden"]["installable"].as_bool(),
        Some(true)
    );
    assert!(pkgs[0]["tool"]["qwarden"].get("not-installable").is_none());
}

#[test]
fn direct_urls_become_their_pylock_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(&tmp.path().join("env"));
    let sha = "cd".repeat(32);
    install(
        &site,
        "from-git",
        "0.1",
        &[(
            "direct_url.json",
            r#"{"url": "https://me:pw@git.example/g.git", "vcs_info": {"vcs": "git", "commit_id": "0a1b", "requested_revision": "v0.1"}}"#,
        )],
    );
    install(
        &site,
        "from-dir",
        "0.2",
        &[(
            "direct_url.json",
            r#"{"url": "file:///src/my%20dir", "dir_info": {"editable": true}}"#,
        )],
    );
    let sdist = format!(
        r#"{{"url": "https://files.example/s-0.3.tar.gz", "archive_info": {{"hashes": {{"sha256": "{sha}"}}}}, "subdirectory": "py"}}"#
    );
    install(&site, "from-sdist", "0.3", &[("direct_url.json", &sdist)]);
    let wheel = format!(
        r#"{{"url": "https://files.example/from_wheel-0.4-py3-none-any.whl", "archive_info": {{"hashes": {{"sha256": "{sha}"}}}}}}"#
    );
    install(&site, "from-wheel", "0.4", &[("direct_url.json", &wheel)]);
    install(
        &site,
        "from-nowhere",
        "0.5",
        &[(
            "direct_url.json",
            r#"{"url": "https://files.example/n-0.5.tar.gz", "archive_info": {}}"#,
        )],
    );
    write(
        &site.join("old_egg-1.0.egg-info/PKG-INFO"),
        "Name: old-egg\nVersion: 1.0\n",
    );
    let m = collect(&tmp.path().join("env"), "prod", None).unwrap();
    let pkgs: BTreeMap<String, toml::Table> = packages(&m.pylock)
        .into_iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p))
        .collect();
    let git = &pkgs["from-git"];
    assert!(git.get("version").is_none(), "a source tree has no version");
    assert_eq!(
        git["vcs"]["url"].as_str(),
        Some("https://git.example/g.git")
    );
    assert_eq!(git["vcs"]["commit-id"].as_str(), Some("0a1b"));
    assert_eq!(git["vcs"]["requested-revision"].as_str(), Some("v0.1"));
    assert_eq!(
        git["tool"]["qwarden"]["installed-version"].as_str(),
        Some("0.1")
    );
    let dir = &pkgs["from-dir"];
    assert!(dir.get("version").is_none());
    assert_eq!(dir["directory"]["path"].as_str(), Some("/src/my dir"));
    assert_eq!(dir["directory"]["editable"].as_bool(), Some(true));
    let sd = &pkgs["from-sdist"];
    assert_eq!(sd["version"].as_str(), Some("0.3"));
    assert_eq!(
        sd["archive"]["hashes"]["sha256"].as_str(),
        Some(sha.as_str())
    );
    assert_eq!(sd["archive"]["subdirectory"].as_str(), Some("py"));
    let wh = &pkgs["from-wheel"]["wheels"].as_array().unwrap()[0];
    assert_eq!(wh["name"].as_str(), Some("from_wheel-0.4-py3-none-any.whl"));
    assert_eq!(wh["hashes"]["sha256"].as_str(), Some(sha.as_str()));
    assert!(
        pkgs["from-nowhere"]["tool"]["qwarden"]["not-installable"]
            .as_str()
            .unwrap()
            .contains("did not record")
    );
    assert!(
        pkgs["old-egg"]["tool"]["qwarden"]["not-installable"]
            .as_str()
            .unwrap()
            .contains("egg-info")
    );
    let egg = m
        .distributions
        .iter()
        .find(|d| d.name == "old-egg")
        .unwrap();
    assert_eq!((egg.version.as_str(), egg.files.as_ref()), ("1.0", None));
    let lock = pylock::parse(&m.pylock).unwrap();
    assert_eq!(lock.packages.len(), 6);
}

#[test]
fn a_package_installed_twice_makes_the_lock_ambiguous() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env");
    let site = venv(&env);
    install(&site, "dup", "1.0", &[]);
    let other = env.join("lib/python3.11/dist-packages");
    install(&other, "dup", "2.0", &[]);
    let wheels = tmp.path().join("w");
    write(&wheels.join("dup-1.0-py3-none-any.whl"), b"1");
    write(&wheels.join("dup-2.0-py3-none-any.whl"), b"2");
    let m = collect(&env, "sandbox", Some(&wheels)).unwrap();
    let tool = table(&m.pylock)["tool"]["qwarden"]
        .as_table()
        .unwrap()
        .clone();
    assert_eq!(tool["installable"].as_bool(), Some(false));
    assert_eq!(
        tool["ambiguous"].as_array().unwrap()[0].as_str(),
        Some("dup")
    );
    assert_eq!(packages(&m.pylock).len(), 2);
}

#[test]
fn the_manifest_round_trips_and_is_refused_when_altered() {
    let tmp = tempfile::tempdir().unwrap();
    let site = venv(&tmp.path().join("env"));
    install(&site, "demo", "1.0", &[]);
    let m = collect(&tmp.path().join("env"), "staging", None).unwrap();
    let json = m.canonical_json().unwrap();
    let back = parse(&json, Path::new("m.json")).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        m.digest().unwrap(),
        format!("sha256:{}", hex::encode(Sha256::digest(&json)))
    );
    let file = tmp.path().join("m.json");
    std::fs::write(&file, &json).unwrap();
    assert_eq!(super::read(&file).unwrap(), m);

    let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    value["pylock"] = serde_json::Value::String(m.pylock.replace("1.0", "2.0"));
    let err = parse(value.to_string().as_bytes(), Path::new("m.json")).unwrap_err();
    assert!(err.to_string().contains("`pylock_sha256`"), "{err}");
    value["format"] = "qwarden-environment/v9".into();
    let err = parse(value.to_string().as_bytes(), Path::new("m.json")).unwrap_err();
    assert!(err.to_string().contains("qwarden-environment/v9"), "{err}");
    let err = parse(b"{\"format\": ", Path::new("m.json")).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = parse(b"{}", Path::new("m.json")).unwrap_err();
    assert!(err.to_string().contains("no `format`"), "{err}");
}

#[test]
fn collect_refuses_what_is_not_an_environment() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        collect(tmp.path(), "sandbox", None),
        Err(EnvironmentError::NotAnEnvironment { .. })
    ));
    assert!(matches!(
        collect(&tmp.path().join("absent"), "sandbox", None),
        Err(EnvironmentError::Io { .. })
    ));
}

#[test]
fn session_python_follows_path_then_virtual_env() {
    let tmp = tempfile::tempdir().unwrap();
    let venv_dir = tmp.path().join("proj/.venv");
    venv(&venv_dir);
    let system = tmp.path().join("opt/py");
    write(&system.join("bin/python3.11"), "");
    std::fs::create_dir_all(venv_dir.join("bin")).unwrap();
    std::os::unix::fs::symlink(system.join("bin/python3.11"), venv_dir.join("bin/python3"))
        .unwrap();
    let link_dir = tmp.path().join("links");
    std::fs::create_dir_all(&link_dir).unwrap();
    std::os::unix::fs::symlink(system.join("bin/python3.11"), link_dir.join("python3")).unwrap();
    let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();

    let p = path(&[Path::new("relative"), &venv_dir.join("bin"), &link_dir]);
    assert_eq!(session_python(Some(&p), None).unwrap(), venv_dir);
    let p = path(&[&link_dir, &venv_dir.join("bin")]);
    assert_eq!(
        session_python(Some(&p), Some(venv_dir.as_os_str())).unwrap(),
        std::fs::canonicalize(&system).unwrap(),
        "PATH decides over a stale VIRTUAL_ENV"
    );
    let empty = path(&[tmp.path()]);
    assert_eq!(
        session_python(Some(&empty), Some(venv_dir.as_os_str())).unwrap(),
        venv_dir
    );
    let err = session_python(Some(&empty), Some(tmp.path().as_os_str())).unwrap_err();
    assert!(err.to_string().contains("no `python3` on PATH"), "{err}");
    assert!(matches!(
        session_python(None, None),
        Err(EnvironmentError::NoPython { .. })
    ));
}

#[test]
fn drift_lists_packages_files_and_interpreter() {
    let tmp = tempfile::tempdir().unwrap();
    let env = tmp.path().join("env");
    let site = venv(&env);
    install(&site, "keep", "1.0", &[]);
    install(&site, "gone", "1.0", &[]);
    let up = install(&site, "up", "1.0", &[]);
    let before = collect(&env, "sandbox", None).unwrap();
    assert_eq!(drift(&before, &before), Vec::<EnvChange>::new());

    write(&site.join("keep/__init__.py"), "changed\n");
    std::fs::remove_dir_all(site.join("gone-1.0.dist-info")).unwrap();
    std::fs::remove_dir_all(&up).unwrap();
    install(&site, "up", "2.0", &[]);
    install(&site, "new", "0.1", &[]);
    write(
        &env.join("pyvenv.cfg"),
        "home = /usr/bin\nversion = 3.11.9\n",
    );
    let after = collect(&env, "sandbox", None).unwrap();
    let changes = drift(&before, &after);
    let expect = [
        EnvChange::Python {
            field: "base_interpreter".into(),
            old: Some("/usr/bin/python3.11".into()),
            new: Some("/usr/bin/python3".into()),
        },
        EnvChange::Python {
            field: "version".into(),
            old: Some("3.11.4".into()),
            new: Some("3.11.9".into()),
        },
        EnvChange::FileModified {
            package: "keep".into(),
            path: "keep/__init__.py".into(),
        },
        EnvChange::PackageAdded {
            name: "new".into(),
            version: "0.1".into(),
        },
        EnvChange::PackageVersionChanged {
            name: "up".into(),
            old: "1.0".into(),
            new: "2.0".into(),
        },
        EnvChange::PackageRemoved {
            name: "gone".into(),
            version: "1.0".into(),
        },
    ];
    assert_eq!(changes, expect);
    assert_eq!(
        changes[2].to_string(),
        "installed file modified: keep/__init__.py (keep)"
    );

    // The same version installed again with other files; the modified file restored.
    std::fs::remove_dir_all(site.join("keep-1.0.dist-info")).unwrap();
    install(&site, "keep", "1.0", &[("extra.txt", "another build\n")]);
    let again = collect(&env, "prod", None).unwrap();
    let changes = drift(&after, &again);
    assert_eq!(
        changes,
        [
            EnvChange::Host {
                field: "tier".into(),
                old: Some("sandbox".into()),
                new: Some("prod".into()),
            },
            EnvChange::PackageRebuilt {
                name: "keep".into(),
                version: "1.0".into(),
            },
            EnvChange::FileRestored {
                package: "keep".into(),
                path: "keep/__init__.py".into(),
            },
        ]
    );
}

#[test]
fn control_characters_are_escaped_for_people() {
    let change = EnvChange::PackageAdded {
        name: "evil\u{1b}[2J".into(),
        version: "1\n".into(),
    };
    assert_eq!(change.to_string(), "package added: evil\\u{1b}[2J 1\\n");
}
