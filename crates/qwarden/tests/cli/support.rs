//! The harness: a hermetic temporary workstation per test, a builder for `qwarden` (and
//! `ssh-keygen`) commands, and assertions that print the whole run when they fail.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The publisher (allowed-signers principal) of the manifests the tests write.
pub const PUBLISHER: &str = "tools@lab.example";

/// The three tiers, as `--tier` spells them.
pub const TIERS: [&str; 3] = ["sandbox", "staging", "prod"];

/// Declares a test that gets a fresh [`Env`], like ripgrep's `rgtest!`.
macro_rules! qwtest {
    ($name:ident, |$env:ident| $body:block) => {
        #[test]
        fn $name() {
            let $env = $crate::support::Env::new();
            $body
        }
    };
}

/// A copy of the qwarden binary that any uid can execute: the build directory may sit under a
/// home directory other users cannot enter (CI clones into /root).
pub fn world_executable() -> PathBuf {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let src = Path::new(env!("CARGO_BIN_EXE_qwarden"));
        let md = std::fs::metadata(src).expect("stat the qwarden binary");
        // One copy per build, reused by later runs; the directory must be ours, not planted.
        let dir = std::env::temp_dir().join(format!("qwarden-test-bin-{}", md.uid()));
        if std::fs::create_dir(&dir).is_err() {
            let d = std::fs::symlink_metadata(&dir).expect("stat the binary directory");
            assert!(
                d.is_dir() && d.uid() == md.uid(),
                "{} is not ours",
                dir.display()
            );
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let exe = dir.join(format!(
            "qwarden-{}-{}",
            md.size(),
            md.mtime_nsec() + md.mtime() * 1_000_000_000
        ));
        if !exe.exists() {
            let tmp = dir.join(format!("tmp-{}", std::process::id()));
            std::fs::copy(src, &tmp).expect("copy the qwarden binary");
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            std::fs::rename(&tmp, &exe).expect("install the copy");
            for old in std::fs::read_dir(&dir).expect("list").flatten() {
                if old.path() != exe {
                    let _ = std::fs::remove_file(old.path());
                }
            }
        }
        exe
    })
    .clone()
}

/// The Landlock ABI of the running kernel (0 without Landlock).
pub fn landlock_abi() -> i64 {
    let out = Command::new("perl")
        .args(["-e", "print syscall(444, 0, 0, 1)"])
        .output()
        .expect("run perl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The repository root, where `examples/` lives.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

/// A temporary home, configuration, state, system-configuration and project directory. Nothing
/// outside it is read or written by the commands it builds.
pub struct Env {
    /// Removes everything when the test ends.
    _root: tempfile::TempDir,
    /// The canonical path of the temporary directory.
    base: PathBuf,
    /// `$HOME`.
    pub home: PathBuf,
    /// `QWARDEN_CONFIG_DIR` (not created: `init` creates it).
    pub config: PathBuf,
    /// `QWARDEN_STATE_DIR` (not created).
    pub state: PathBuf,
    /// `QWARDEN_SYSTEM_CONFIG_DIR`, standing in for `/etc/qwarden` (not created).
    pub system: PathBuf,
    /// The project directory commands run in.
    pub project: PathBuf,
}

impl Env {
    /// A fresh environment.
    pub fn new() -> Env {
        Env::new_in(&std::env::temp_dir())
    }

    /// A fresh environment in a new directory under `parent`.
    pub fn new_in(parent: &Path) -> Env {
        let root = tempfile::Builder::new()
            .prefix("qwarden-cli-")
            .tempdir_in(parent)
            .expect("create a temporary directory");
        // Canonical paths, so they compare equal to what qwarden prints after canonicalising.
        let base =
            std::fs::canonicalize(root.path()).expect("canonicalise the temporary directory");
        let env = Env {
            home: base.join("home"),
            config: base.join("config"),
            state: base.join("state"),
            system: base.join("etc-qwarden"),
            project: base.join("project"),
            base,
            _root: root,
        };
        for dir in [&env.home, &env.project] {
            std::fs::create_dir_all(dir).expect("create a test directory");
        }
        env
    }

    /// A path inside the environment but outside the project.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.base.join(name)
    }

    /// Copies `other`'s configuration and state directories (profile, ledger, keys) into this
    /// environment, replacing its own.
    pub fn copy_config_and_state_from(&self, other: &Env) {
        for (from, to) in [(&other.config, &self.config), (&other.state, &self.state)] {
            if to.exists() {
                std::fs::remove_dir_all(to).expect("remove a test directory");
            }
            copy_dir(from, to);
        }
    }

    /// `qwarden ARGS`, run in the project directory.
    pub fn qwarden<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Cmd {
        self.qwarden_in(&self.project, args)
    }

    /// `qwarden ARGS`, run in the repository root (for the committed examples).
    pub fn qwarden_in_repo<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Cmd {
        self.qwarden_in(&repo_root(), args)
    }

    fn qwarden_in<S: AsRef<OsStr>>(&self, dir: &Path, args: impl IntoIterator<Item = S>) -> Cmd {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qwarden"));
        cmd.args(args).current_dir(dir);
        self.hermetic(&mut cmd);
        Cmd::new("qwarden", cmd)
    }

    /// `qwarden ARGS` in the project directory, run as `uid` (and its group) through `setpriv`.
    pub fn as_uid<S: AsRef<OsStr>>(&self, uid: u32, args: impl IntoIterator<Item = S>) -> Cmd {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".to_owned(),
            "--".to_owned(),
        ])
        .arg(world_executable())
        .args(args)
        .current_dir(&self.project);
        self.hermetic(&mut cmd);
        Cmd::new("qwarden", cmd)
    }

    /// `bash -c SCRIPT` with `$0` set to the qwarden binary, in the project directory.
    pub fn bash(&self, script: &str) -> Cmd {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_qwarden"))
            .current_dir(&self.project);
        self.hermetic(&mut cmd);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        Cmd::new("bash", cmd)
    }

    /// Clears the environment (so QWARDEN_PROFILE, QWARDEN_ALLOWED_SIGNERS, SSH_AUTH_SOCK,
    /// QWARDEN_KEY_PASSPHRASE and XDG_* from the caller never leak in) and points every qwarden
    /// directory into the environment.
    fn hermetic(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("QWARDEN_CONFIG_DIR", &self.config)
            .env("QWARDEN_STATE_DIR", &self.state)
            .env("QWARDEN_SYSTEM_CONFIG_DIR", &self.system);
    }

    /// `ssh-keygen ARGS` in the project directory; fails the test if OpenSSH is not installed.
    pub fn ssh_keygen<S: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = S>) -> Cmd {
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(args)
            .current_dir(&self.project)
            .env_clear()
            .env("HOME", &self.home);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        Cmd::new("ssh-keygen", cmd)
    }

    /// Writes `text` to `rel` in the project directory (creating parents) and returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        write_file(&self.project.join(rel), text)
    }

    /// Makes a new passphrase-less key pair of `kind` (`ed25519`, `ecdsa`) named `name` in the home
    /// directory, with `ssh-keygen`.
    pub fn keygen(&self, kind: &str, name: &str) -> Key {
        let private = self.home.join(name);
        let mut args = vec!["-q", "-t", kind, "-N", "", "-C", "test key", "-f"];
        if kind == "ecdsa" {
            args.splice(0..0, ["-b", "256"]);
        }
        self.ssh_keygen(args).arg(&private).run().success();
        let public = self.home.join(format!("{name}.pub"));
        Key { private, public }
    }

    /// Signs `manifest` (relative to the project) with `qwarden manifest sign`.
    pub fn sign(&self, manifest: &str, key: &Key) {
        self.qwarden(["manifest", "sign", "--key"])
            .arg(&key.private)
            .arg(manifest)
            .run()
            .success();
    }

    /// Appends a line trusting `key` for `principal` to CONFIG/allowed_signers, the default file.
    pub fn trust(&self, principal: &str, key: &Key) {
        let path = self.config.join("allowed_signers");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&key.allowed_signers_line(principal));
        write_file(&path, &text);
    }

    /// A well-formed manifest for [`PUBLISHER`] with `body` after its `[agent]` table.
    pub fn manifest_text(body: &str) -> String {
        format!(
            "[agent]\nname = \"probe\"\nversion = \"1.0.0\"\npublisher = \"{PUBLISHER}\"\ndescription = \"a test agent\"\n\n{body}"
        )
    }

    /// Writes a manifest to `rel`, signs it with a new ed25519 key trusted for [`PUBLISHER`], and
    /// returns the key.
    pub fn signed_manifest(&self, rel: &str, body: &str) -> Key {
        let key = self.keygen("ed25519", "publisher");
        self.trust(PUBLISHER, &key);
        self.write(rel, &Env::manifest_text(body));
        self.sign(rel, &key);
        key
    }
}

/// Copies the directory tree `from` to `to` (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("list a directory");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("stat a file").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", entry.path().display()));
        }
    }
}

fn write_file(path: &Path, text: &str) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directories");
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path.to_path_buf()
}

/// An OpenSSH key pair made by `ssh-keygen`.
pub struct Key {
    /// The private key file.
    pub private: PathBuf,
    /// The `.pub` file.
    pub public: PathBuf,
}

impl Key {
    /// `TYPE BASE64` of the public key (without its comment).
    pub fn public_key(&self) -> String {
        let text = std::fs::read_to_string(&self.public).expect("read the public key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An allowed-signers line trusting this key for `principal` in the manifest namespace.
    pub fn allowed_signers_line(&self, principal: &str) -> String {
        format!(
            "{principal} namespaces=\"qwarden-manifest\" {}\n",
            self.public_key()
        )
    }
}

/// A command to run, with a readable rendering for failure messages.
pub struct Cmd {
    cmd: Command,
    name: &'static str,
    stdin: Option<std::fs::File>,
}

impl Cmd {
    fn new(name: &'static str, cmd: Command) -> Cmd {
        Cmd {
            cmd,
            name,
            stdin: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Cmd {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.cmd.env(key, value);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.cmd.env_remove(key);
        self
    }

    /// Feeds `file` to the command's standard input.
    pub fn stdin_file(mut self, file: &Path) -> Cmd {
        self.stdin = Some(
            std::fs::File::open(file)
                .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display())),
        );
        self
    }

    fn shown(&self) -> String {
        let args: Vec<String> = self
            .cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        format!("{} {}", self.name, args.join(" "))
    }

    /// Runs the command to completion, capturing its output; standard input is empty unless
    /// [`Cmd::stdin_file`] gave one.
    pub fn run(mut self) -> Run {
        let shown = self.shown();
        let stdin = self.stdin.take().map_or_else(Stdio::null, Stdio::from);
        let output = match self.cmd.stdin(stdin).output() {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.name == "ssh-keygen" => {
                panic!(
                    "ssh-keygen was not found: these tests check interoperability with the real OpenSSH; \
                 install openssh-client (e.g. `apt-get install openssh-client`)"
                )
            }
            Err(e) => panic!("cannot run `{shown}`: {e}"),
        };
        Run::new(shown, &output)
    }

    /// Starts the command in the background, reading its standard output line by line (see
    /// [`Running`]); its standard error goes to `stderr_file`. It is killed when dropped.
    pub fn spawn(mut self, stderr_file: &Path) -> Running {
        let shown = self.shown();
        let stderr = std::fs::File::create(stderr_file)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_file.display()));
        let mut child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{shown}`: {e}"));
        let stdout = child.stdout.take().expect("the child's stdout is piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            shown,
            child,
            lines,
            stderr_file: stderr_file.to_path_buf(),
        }
    }

    /// Runs the command with its standard output connected to a pipe whose reading end is
    /// already closed, so every write fails with `EPIPE` (deterministically, unlike `| head`).
    pub fn run_into_closed_pipe(mut self) -> Run {
        let shown = format!("{} >closed-pipe", self.shown());
        let (reader, writer) = std::io::pipe().expect("create a pipe");
        drop(reader);
        let output = self
            .cmd
            .stdin(Stdio::null())
            .stdout(writer)
            .output()
            .unwrap_or_else(|e| panic!("cannot run `{shown}`: {e}"));
        Run::new(shown, &output)
    }
}

/// A finished command.
pub struct Run {
    shown: String,
    code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    fn new(shown: String, output: &std::process::Output) -> Run {
        Run {
            shown,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn report(&self, problem: &str) -> String {
        let mut s = format!(
            "{problem}\n  command: {}\n  exit:    {:?}\n",
            self.shown, self.code
        );
        let _ = write!(
            s,
            "--- stdout ---\n{}--- stderr ---\n{}--------------",
            self.stdout, self.stderr
        );
        s
    }

    /// The exit code (`None` when a signal ended the process).
    pub fn exit_code(&self) -> Option<i32> {
        self.code
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert!(
            self.code == Some(expected),
            "{}",
            self.report(&format!("expected exit code {expected}"))
        );
        self
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(&self) -> &Run {
        self.code(0)
    }

    /// Asserts that standard output contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle),
            "{}",
            self.report(&format!("stdout lacks {needle:?}"))
        );
        self
    }

    /// Asserts that standard output does not contain `needle`.
    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stdout.contains(needle),
            "{}",
            self.report(&format!("stdout has {needle:?}"))
        );
        self
    }

    /// Asserts that standard error contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Run {
        assert!(
            self.stderr.contains(needle),
            "{}",
            self.report(&format!("stderr lacks {needle:?}"))
        );
        self
    }

    /// Asserts that standard error contains `needle` exactly once.
    #[track_caller]
    pub fn stderr_once(&self, needle: &str) -> &Run {
        let n = self.stderr.matches(needle).count();
        assert!(
            n == 1,
            "{}",
            self.report(&format!("stderr has {needle:?} {n} times, not once"))
        );
        self
    }

    /// Asserts that standard error does not contain `needle`.
    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Run {
        assert!(
            !self.stderr.contains(needle),
            "{}",
            self.report(&format!("stderr has {needle:?}"))
        );
        self
    }

    /// Asserts that standard error is empty.
    #[track_caller]
    pub fn stderr_empty(&self) -> &Run {
        assert!(
            self.stderr.is_empty(),
            "{}",
            self.report("stderr is not empty")
        );
        self
    }

    /// Standard output parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}", self.report(&format!("stdout is not JSON: {e}"))))
    }
}

/// A command running in the background (a server, `tail -f`); killed when dropped.
pub struct Running {
    shown: String,
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr_file: PathBuf,
}

/// How long [`Running::line`] waits: only a guard against a hung test, never a timing assertion.
const LINE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Running {
    /// Kills the command with SIGKILL and waits until every process that inherited its standard
    /// output has exited too (the pipe reaches end of file); false if that did not happen within
    /// the line timeout.
    pub fn kill_and_wait_for_eof(&mut self) -> bool {
        let _ = self.child.kill();
        let _ = self.child.wait();
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(_) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// The command's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits, without killing anything, until every process holding the command's standard
    /// output has exited; false if that did not happen within the line timeout.
    pub fn wait_for_eof(&mut self) -> bool {
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(_) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    return true;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// The next line of standard output.
    #[track_caller]
    pub fn line(&self) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => line,
            Err(e) => panic!(
                "`{}` printed no further line ({e})\n--- stderr ---\n{}--------------",
                self.shown,
                std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
            ),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Cmd {
    /// A command the caller built (a test server, a tool), with this harness's reporting:
    /// failures print the whole run, and [`Cmd::spawn`] reads its output line by line.
    pub fn from_command(name: &'static str, cmd: Command) -> Cmd {
        Cmd::new(name, cmd)
    }
}
