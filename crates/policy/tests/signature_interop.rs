//! SSHSIG interoperability and negative tests against the real OpenSSH tools.
//!
//! Every test drives `/usr/bin/ssh-keygen` (and `ssh-agent` / `ssh-add`) in a private temp dir.
//! Trust decisions are checked both ways where it makes sense: qwarden's verdict and
//! `ssh-keygen -Y verify` (with a fixed `-O verify-time`) must agree. No test sleeps or reads the
//! clock: the verification time is the constant [`NOW`].
//!
//! The OpenSSH client tools are required; the tests fail (never skip) without them.

#![allow(
    clippy::result_large_err,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use qwarden_policy::signature::{
    APPROVAL_NAMESPACE, AllowedSigners, MANIFEST_NAMESPACE, Passphrase, SignatureError, Signer,
    SigningKey, sign, verify,
};
use time::OffsetDateTime;
use time::macros::datetime;

/// The verification time of every test.
const NOW: OffsetDateTime = datetime!(2026-01-15 12:00 UTC);
/// [`NOW`] for `ssh-keygen -Y verify -O verify-time=`.
const NOW_SSH: &str = "20260115120000Z";

const MSG: &[u8] = b"[agent]\nname = \"circuit-bot\"\n[grant]\nbackends = [\"local\"]\n";
const ALICE: &str = "alice@example.com";

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A command for an OpenSSH tool, isolated from the developer's agent and time zone.
fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    let Some(path) = found else {
        panic!(
            "`{name}` is required by the OpenSSH interop tests and was not found on PATH or in \
             /usr/bin; install openssh-client (Debian/Ubuntu: `apt-get install openssh-client`)"
        );
    };
    let mut cmd = Command::new(path);
    cmd.env_remove("SSH_AUTH_SOCK")
        .env_remove("SSH_AGENT_PID")
        .env_remove("SSH_ASKPASS")
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, feeding `stdin`, and returns its output.
fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // A tool may exit before reading its input (e.g. on a malformed signature).
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn run_ok(cmd: &mut Command, stdin: &[u8]) -> Output {
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A key pair made by `ssh-keygen`.
struct Key {
    private: PathBuf,
    public: PathBuf,
    /// `key-type base64` (no comment), ready for an allowed-signers line.
    line: String,
}

impl Key {
    fn file(&self) -> SigningKey {
        SigningKey::File {
            path: self.private.clone(),
            passphrase: None,
        }
    }
}

/// A private temp dir for one test.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh file name in the fixture dir.
    fn write(&self, contents: &[u8]) -> PathBuf {
        let file = tempfile::NamedTempFile::new_in(self.dir.path()).unwrap();
        let (mut handle, path) = file.keep().unwrap();
        handle.write_all(contents).unwrap();
        path
    }

    /// `ssh-keygen -t ... -N passphrase`.
    fn keygen(&self, name: &str, kind: &[&str], passphrase: &str) -> Key {
        let private = self.path(name);
        run_ok(
            tool("ssh-keygen")
                .args(["-q"])
                .args(kind)
                .args(["-N", passphrase, "-C", &format!("{name}@test"), "-f"])
                .arg(&private),
            b"",
        );
        let public = private.with_extension("pub");
        let text = std::fs::read_to_string(&public).unwrap();
        let line = text.split(' ').take(2).collect::<Vec<_>>().join(" ");
        Key {
            private,
            public,
            line,
        }
    }

    /// Like [`Fixture::keygen`] (unencrypted), but keeps generating until `wanted(parses)` holds,
    /// where `parses` says whether the ssh-key crate can read the private key. ssh-key 0.6 cannot
    /// read ECDSA keys whose private scalar has leading zero bytes (~1/256 of P-256 and P-384
    /// keys, ~1/4 of P-521 keys); the tests pick keys on purpose instead of failing at random.
    /// Bounded: the chance of 200 misses is negligible for either choice.
    fn keygen_where(&self, name: &str, kind: &[&str], wanted: impl Fn(bool) -> bool) -> Key {
        for _ in 0..200 {
            let key = self.keygen(name, kind, "");
            let text = std::fs::read_to_string(&key.private).unwrap();
            if wanted(ssh_key::PrivateKey::from_openssh(&text).is_ok()) {
                return key;
            }
            std::fs::remove_file(&key.private).unwrap();
            std::fs::remove_file(&key.public).unwrap();
        }
        panic!("ssh-keygen never produced the wanted kind of {kind:?} key");
    }

    /// `ssh-keygen -Y sign` with the key at `key_file` (private key, or certificate).
    fn keygen_sign(&self, key_file: &Path, namespace: &str, msg: &[u8], extra: &[&str]) -> String {
        let out = run_ok(
            tool("ssh-keygen")
                .args(["-Y", "sign", "-n", namespace])
                .args(extra)
                .arg("-f")
                .arg(key_file),
            msg,
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `ssh-keygen -Y verify` at [`NOW`]; true if it accepts.
    fn keygen_verify(
        &self,
        allowed: &str,
        principal: &str,
        namespace: &str,
        sig: &str,
        msg: &[u8],
    ) -> bool {
        let allowed_file = self.write(allowed.as_bytes());
        let sig_file = self.write(sig.as_bytes());
        run(
            tool("ssh-keygen")
                .args(["-Y", "verify", "-I", principal, "-n", namespace])
                .arg("-O")
                .arg(format!("verify-time={NOW_SSH}"))
                .arg("-f")
                .arg(&allowed_file)
                .arg("-s")
                .arg(&sig_file),
            msg,
        )
        .status
        .success()
    }

    /// The SHA-256 fingerprint as `ssh-keygen -l` prints it.
    fn fingerprint(&self, public: &Path) -> String {
        let out = run_ok(
            tool("ssh-keygen")
                .args(["-l", "-E", "sha256", "-f"])
                .arg(public),
            b"",
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.split(' ').nth(1).unwrap().to_owned()
    }

    /// Verifies with qwarden and with `ssh-keygen -Y verify`, asserting that both agree.
    fn verify_both(
        &self,
        allowed: &str,
        principal: &str,
        namespace: &str,
        sig: &str,
        msg: &[u8],
    ) -> Result<Signer, SignatureError> {
        let signers = AllowedSigners::parse(allowed, Path::new("allowed_signers")).unwrap();
        let ours = verify(msg, sig, namespace, principal, &signers, NOW);
        let theirs = self.keygen_verify(allowed, principal, namespace, sig, msg);
        assert_eq!(
            ours.is_ok(),
            theirs,
            "qwarden and ssh-keygen disagree on principal {principal:?}, namespace \
             {namespace:?}, allowed signers:\n{allowed}\nqwarden: {ours:?}"
        );
        ours
    }
}

/// An `ssh-agent` on a private socket, killed (`ssh-agent -k`) on drop.
struct Agent {
    pid: String,
    socket: PathBuf,
}

impl Agent {
    /// `ssh-agent -s -a sock` binds the socket, forks the agent and prints its pid; when the
    /// command returns the socket is ready, so no waiting is needed.
    fn start(fx: &Fixture) -> Self {
        let socket = fx.path("agent.sock");
        let out = run_ok(tool("ssh-agent").arg("-s").arg("-a").arg(&socket), b"");
        let text = String::from_utf8(out.stdout).unwrap();
        let pid = text
            .split(';')
            .find_map(|part| part.trim().strip_prefix("SSH_AGENT_PID="))
            .unwrap_or_else(|| panic!("no SSH_AGENT_PID in ssh-agent output: {text}"))
            .to_owned();
        assert!(pid.bytes().all(|b| b.is_ascii_digit()), "bad pid {pid:?}");
        Self { pid, socket }
    }

    fn add(&self, key: &Key) {
        run_ok(
            tool("ssh-add")
                .env("SSH_AUTH_SOCK", &self.socket)
                .arg(&key.private),
            b"",
        );
    }

    fn key(&self, key: &Key) -> SigningKey {
        SigningKey::Agent {
            public_key: key.public.clone(),
            socket: self.socket.clone(),
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let stopped = tool("ssh-agent")
            .arg("-k")
            .env("SSH_AGENT_PID", &self.pid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !stopped {
            let _ = Command::new("kill").arg(&self.pid).status();
        }
    }
}

fn ed25519(fx: &Fixture, name: &str) -> Key {
    fx.keygen(name, &["-t", "ed25519"], "")
}

fn allow(principals: &str, options: &str, key: &Key) -> String {
    if options.is_empty() {
        format!("{principals} {}\n", key.line)
    } else {
        format!("{principals} {options} {}\n", key.line)
    }
}

// ---------------------------------------------------------------------------------------------
// Interoperability, both directions
// ---------------------------------------------------------------------------------------------

fn interop(kind: &[&str], algorithm: &str) {
    let fx = Fixture::new();
    let key = fx.keygen_where("signer", kind, |readable| readable);
    let allowed = allow(ALICE, "", &key);

    // qwarden signs, ssh-keygen verifies.
    let ours = sign(MSG, MANIFEST_NAMESPACE, &key.file()).unwrap();
    assert!(
        ours.starts_with("-----BEGIN SSH SIGNATURE-----\n"),
        "{ours}"
    );
    assert!(ours.ends_with("\n-----END SSH SIGNATURE-----\n"), "{ours}");
    assert!(!ours.contains('\r'));
    assert!(ours.lines().all(|l| l.len() <= 70), "{ours}");
    assert!(fx.keygen_verify(&allowed, ALICE, MANIFEST_NAMESPACE, &ours, MSG));
    // ssh-keygen sees the namespace we embedded, and the message we signed.
    assert!(!fx.keygen_verify(&allowed, ALICE, APPROVAL_NAMESPACE, &ours, MSG));
    assert!(!fx.keygen_verify(&allowed, ALICE, MANIFEST_NAMESPACE, &ours, b"other"));

    // ssh-keygen signs, qwarden verifies.
    let theirs = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let signers = AllowedSigners::parse(&allowed, Path::new("allowed_signers")).unwrap();
    let signer = verify(MSG, &theirs, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap();
    assert_eq!(
        signer,
        Signer {
            principal: ALICE.to_owned(),
            fingerprint: fx.fingerprint(&key.public),
            algorithm: algorithm.to_owned(),
        }
    );
    // And our own signature verifies with qwarden too.
    assert_eq!(
        verify(MSG, &ours, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap(),
        signer
    );
}

#[test]
fn interop_ed25519() {
    interop(&["-t", "ed25519"], "ssh-ed25519");
}

#[test]
fn interop_ecdsa_p256() {
    interop(&["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256");
}

#[test]
fn interop_ecdsa_p384() {
    interop(&["-t", "ecdsa", "-b", "384"], "ecdsa-sha2-nistp384");
}

#[test]
fn interop_ecdsa_p521() {
    interop(&["-t", "ecdsa", "-b", "521"], "ecdsa-sha2-nistp521");
}

#[test]
fn ed25519_signature_is_byte_identical_to_ssh_keygen() {
    // Ed25519 is deterministic, so "writes exactly what ssh-keygen writes" is checkable.
    let fx = Fixture::new();
    let key = ed25519(&fx, "signer");
    for namespace in [MANIFEST_NAMESPACE, APPROVAL_NAMESPACE] {
        let ours = sign(MSG, namespace, &key.file()).unwrap();
        let theirs = fx.keygen_sign(&key.private, namespace, MSG, &[]);
        assert_eq!(ours, theirs);
    }
}

#[test]
fn ssh_keygen_sha256_signature_verifies() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "signer");
    let sig = fx.keygen_sign(
        &key.private,
        MANIFEST_NAMESPACE,
        MSG,
        &["-O", "hashalg=sha256"],
    );
    fx.verify_both(
        &allow(ALICE, "", &key),
        ALICE,
        MANIFEST_NAMESPACE,
        &sig,
        MSG,
    )
    .unwrap();
}

#[test]
fn crlf_signature_file_verifies() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "signer");
    let sig = fx
        .keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[])
        .replace('\n', "\r\n");
    let signers = AllowedSigners::parse(&allow(ALICE, "", &key), Path::new("a")).unwrap();
    verify(MSG, &sig, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Encrypted private keys
// ---------------------------------------------------------------------------------------------

#[test]
fn encrypted_key_signs_with_its_passphrase() {
    let fx = Fixture::new();
    let key = fx.keygen("locked", &["-t", "ed25519"], "correct horse");
    let signing_key = SigningKey::File {
        path: key.private.clone(),
        passphrase: Some(Passphrase::new("correct horse")),
    };
    assert!(!format!("{signing_key:?}").contains("correct horse"));
    let sig = sign(MSG, MANIFEST_NAMESPACE, &signing_key).unwrap();
    assert!(fx.keygen_verify(
        &allow(ALICE, "", &key),
        ALICE,
        MANIFEST_NAMESPACE,
        &sig,
        MSG
    ));
}

#[test]
fn encrypted_key_without_passphrase_is_refused_clearly() {
    let fx = Fixture::new();
    let key = fx.keygen("locked", &["-t", "ecdsa", "-b", "256"], "secret");
    let err = sign(MSG, MANIFEST_NAMESPACE, &key.file()).unwrap_err();
    assert!(
        matches!(&err, SignatureError::PassphraseRequired { path } if *path == key.private),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("--passphrase-file") && text.contains("ssh-agent"),
        "{text}"
    );
}

#[test]
fn encrypted_key_with_wrong_passphrase_is_refused() {
    let fx = Fixture::new();
    let key = fx.keygen("locked", &["-t", "ed25519"], "secret");
    let err = sign(
        MSG,
        MANIFEST_NAMESPACE,
        &SigningKey::File {
            path: key.private.clone(),
            passphrase: Some(Passphrase::new("Secret")),
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, SignatureError::WrongPassphrase { .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("Secret"));
}

// ---------------------------------------------------------------------------------------------
// ssh-agent
// ---------------------------------------------------------------------------------------------

#[test]
fn agent_signatures_verify_with_ssh_keygen() {
    let fx = Fixture::new();
    let agent = Agent::start(&fx);
    let ed = ed25519(&fx, "ed");
    let ec = fx.keygen("ec", &["-t", "ecdsa", "-b", "384"], "");
    agent.add(&ed);
    agent.add(&ec);
    for key in [&ed, &ec] {
        let sig = sign(MSG, MANIFEST_NAMESPACE, &agent.key(key)).unwrap();
        fx.verify_both(&allow(ALICE, "", key), ALICE, MANIFEST_NAMESPACE, &sig, MSG)
            .unwrap();
        assert!(!fx.keygen_verify(&allow(ALICE, "", key), ALICE, APPROVAL_NAMESPACE, &sig, MSG));
    }
    // Deterministic Ed25519: the agent path yields exactly the file path's signature.
    assert_eq!(
        sign(MSG, APPROVAL_NAMESPACE, &agent.key(&ed)).unwrap(),
        sign(MSG, APPROVAL_NAMESPACE, &ed.file()).unwrap()
    );
}

#[test]
fn agent_without_the_key_refuses() {
    let fx = Fixture::new();
    let agent = Agent::start(&fx);
    let loaded = ed25519(&fx, "loaded");
    let missing = ed25519(&fx, "missing");
    agent.add(&loaded);
    let err = sign(MSG, MANIFEST_NAMESPACE, &agent.key(&missing)).unwrap_err();
    match &err {
        SignatureError::AgentRefused { fingerprint, .. } => {
            assert_eq!(*fingerprint, fx.fingerprint(&missing.public));
        }
        other => panic!("expected AgentRefused, got {other:?}"),
    }
    assert!(err.to_string().contains("ssh-add"), "{err}");
}

#[test]
fn agent_socket_that_does_not_exist_is_a_clear_error() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let err = sign(
        MSG,
        MANIFEST_NAMESPACE,
        &SigningKey::Agent {
            public_key: key.public.clone(),
            socket: fx.path("no-such-agent.sock"),
        },
    )
    .unwrap_err();
    assert!(matches!(err, SignatureError::Agent { .. }), "{err:?}");
    assert!(err.to_string().contains("SSH_AUTH_SOCK"), "{err}");
}

#[test]
fn ecdsa_key_with_short_private_scalar_is_refused_clearly_and_signs_through_the_agent() {
    let fx = Fixture::new();
    let key = fx.keygen_where("p521", &["-t", "ecdsa", "-b", "521"], |readable| !readable);
    let err = sign(MSG, MANIFEST_NAMESPACE, &key.file()).unwrap_err();
    match &err {
        SignatureError::KeyFormat { problem, hint, .. } => {
            assert!(problem.contains("ecdsa-sha2-nistp521"), "{problem}");
            assert!(hint.contains("ssh-agent"), "{hint}");
        }
        other => panic!("expected KeyFormat, got {other:?}"),
    }
    // The agent path never parses the private key, so the same key works there.
    let agent = Agent::start(&fx);
    agent.add(&key);
    let sig = sign(MSG, MANIFEST_NAMESPACE, &agent.key(&key)).unwrap();
    fx.verify_both(
        &allow(ALICE, "", &key),
        ALICE,
        MANIFEST_NAMESPACE,
        &sig,
        MSG,
    )
    .unwrap();
}

#[test]
fn key_files_of_the_wrong_kind_are_refused() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    // A public key where a private key is needed.
    let err = sign(
        MSG,
        MANIFEST_NAMESPACE,
        &SigningKey::File {
            path: key.public.clone(),
            passphrase: None,
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, SignatureError::KeyFormat { problem, .. } if problem.contains("public key")),
        "{err:?}"
    );
    // A private key where the agent's public key file is needed.
    let err = sign(
        MSG,
        MANIFEST_NAMESPACE,
        &SigningKey::Agent {
            public_key: key.private.clone(),
            socket: fx.path("unused.sock"),
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, SignatureError::KeyFormat { problem, .. } if problem.contains("private key")),
        "{err:?}"
    );
    // A missing key file.
    let err = sign(
        MSG,
        MANIFEST_NAMESPACE,
        &SigningKey::File {
            path: fx.path("nope"),
            passphrase: None,
        },
    )
    .unwrap_err();
    assert!(matches!(err, SignatureError::KeyRead { .. }), "{err:?}");
    // An empty namespace is never signed.
    let err = sign(MSG, "", &key.file()).unwrap_err();
    assert!(matches!(err, SignatureError::Signing { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Negative verification tests: each asserts the specific error, and that ssh-keygen agrees.
// ---------------------------------------------------------------------------------------------

#[test]
fn tampered_message_is_a_bad_signature() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let mut tampered = MSG.to_vec();
    tampered[10] ^= 0x01;
    for msg in [&tampered[..], &MSG[..MSG.len() - 1], b""] {
        let err = fx
            .verify_both(
                &allow(ALICE, "", &key),
                ALICE,
                MANIFEST_NAMESPACE,
                &sig,
                msg,
            )
            .unwrap_err();
        assert!(matches!(err, SignatureError::BadSignature), "{err:?}");
        assert!(
            err.to_string().contains("modified after it was signed"),
            "{err}"
        );
    }
}

#[test]
fn tampered_signature_bytes_are_a_bad_signature() {
    let fx = Fixture::new();
    let key = fx.keygen("k", &["-t", "ecdsa", "-b", "256"], "");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let parsed: ssh_key::SshSig = sig.parse().unwrap();
    let mut bytes = parsed.signature_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let forged = ssh_key::SshSig::new(
        parsed.public_key().clone(),
        parsed.namespace(),
        parsed.hash_alg(),
        ssh_key::Signature::new(parsed.signature().algorithm(), bytes).unwrap(),
    )
    .unwrap()
    .to_pem(ssh_key::LineEnding::LF)
    .unwrap();
    let err = fx
        .verify_both(
            &allow(ALICE, "", &key),
            ALICE,
            MANIFEST_NAMESPACE,
            &forged,
            MSG,
        )
        .unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature), "{err:?}");
}

#[test]
fn wrong_namespace_is_rejected() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    // An approval signature presented as a manifest signature.
    let sig = fx.keygen_sign(&key.private, APPROVAL_NAMESPACE, MSG, &[]);
    let err = fx
        .verify_both(
            &allow(ALICE, "", &key),
            ALICE,
            MANIFEST_NAMESPACE,
            &sig,
            MSG,
        )
        .unwrap_err();
    match &err {
        SignatureError::WrongNamespace { expected, found } => {
            assert_eq!(expected, MANIFEST_NAMESPACE);
            assert_eq!(found, APPROVAL_NAMESPACE);
        }
        other => panic!("expected WrongNamespace, got {other:?}"),
    }
    // And the same signature is fine where it belongs.
    fx.verify_both(
        &allow(ALICE, "", &key),
        ALICE,
        APPROVAL_NAMESPACE,
        &sig,
        MSG,
    )
    .unwrap();
}

#[test]
fn relabelled_namespace_is_a_bad_signature() {
    // Rewriting the namespace field of an approval signature to "qwarden-manifest" must not make
    // it a manifest signature: the namespace is covered by the signature.
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, APPROVAL_NAMESPACE, MSG, &[]);
    let parsed: ssh_key::SshSig = sig.parse().unwrap();
    let relabelled = ssh_key::SshSig::new(
        parsed.public_key().clone(),
        MANIFEST_NAMESPACE,
        parsed.hash_alg(),
        parsed.signature().clone(),
    )
    .unwrap()
    .to_pem(ssh_key::LineEnding::LF)
    .unwrap();
    let err = fx
        .verify_both(
            &allow(ALICE, "", &key),
            ALICE,
            MANIFEST_NAMESPACE,
            &relabelled,
            MSG,
        )
        .unwrap_err();
    assert!(matches!(err, SignatureError::BadSignature), "{err:?}");
}

#[test]
fn principal_not_in_allowed_signers_is_untrusted() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let allowed = allow(ALICE, "", &key);
    let err = fx
        .verify_both(
            &allowed,
            "mallory@example.com",
            MANIFEST_NAMESPACE,
            &sig,
            MSG,
        )
        .unwrap_err();
    match &err {
        SignatureError::UntrustedSigner {
            principal,
            fingerprint,
            hint,
        } => {
            assert_eq!(principal, "mallory@example.com");
            assert_eq!(*fingerprint, fx.fingerprint(&key.public));
            assert!(hint.contains(ALICE), "{hint}");
        }
        other => panic!("expected UntrustedSigner, got {other:?}"),
    }
}

#[test]
fn other_key_for_the_same_principal_is_untrusted() {
    let fx = Fixture::new();
    let trusted = ed25519(&fx, "trusted");
    let attacker = ed25519(&fx, "attacker");
    let sig = fx.keygen_sign(&attacker.private, MANIFEST_NAMESPACE, MSG, &[]);
    let allowed = allow(ALICE, "", &trusted);
    let err = fx
        .verify_both(&allowed, ALICE, MANIFEST_NAMESPACE, &sig, MSG)
        .unwrap_err();
    match &err {
        SignatureError::UntrustedSigner {
            fingerprint, hint, ..
        } => {
            assert_eq!(*fingerprint, fx.fingerprint(&attacker.public));
            assert!(hint.contains("different key"), "{hint}");
            // The suggested line names the attacker's key, so the human sees what they would trust.
            assert!(hint.contains(&attacker.line), "{hint}");
        }
        other => panic!("expected UntrustedSigner, got {other:?}"),
    }
}

#[test]
fn principal_wildcards_match_and_negation_rejects() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let allowed = allow("*@example.com,!mallory@example.com", "", &key);
    let signer = fx
        .verify_both(&allowed, ALICE, MANIFEST_NAMESPACE, &sig, MSG)
        .unwrap();
    assert_eq!(signer.principal, ALICE);
    fx.verify_both(&allowed, "b?b@example.com", MANIFEST_NAMESPACE, &sig, MSG)
        .unwrap();
    let err = fx
        .verify_both(
            &allowed,
            "mallory@example.com",
            MANIFEST_NAMESPACE,
            &sig,
            MSG,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SignatureError::UntrustedSigner { hint, .. } if hint.contains('!')),
        "{err:?}"
    );
    let err = fx
        .verify_both(&allowed, "alice@example.org", MANIFEST_NAMESPACE, &sig, MSG)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::UntrustedSigner { .. }),
        "{err:?}"
    );
    // `?` is exactly one character.
    let allowed = allow("al?ce@example.com", "", &key);
    fx.verify_both(&allowed, ALICE, MANIFEST_NAMESPACE, &sig, MSG)
        .unwrap();
    let err = fx
        .verify_both(
            &allowed,
            "allice@example.com",
            MANIFEST_NAMESPACE,
            &sig,
            MSG,
        )
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::UntrustedSigner { .. }),
        "{err:?}"
    );
}

#[test]
fn namespaces_option_excludes_other_namespaces() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let allowed = allow(ALICE, &format!("namespaces=\"{APPROVAL_NAMESPACE}\""), &key);
    let manifest_sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let err = fx
        .verify_both(&allowed, ALICE, MANIFEST_NAMESPACE, &manifest_sig, MSG)
        .unwrap_err();
    match &err {
        SignatureError::NamespaceNotAllowed {
            namespace,
            allowed,
            location,
            ..
        } => {
            assert_eq!(namespace, MANIFEST_NAMESPACE);
            assert_eq!(allowed, APPROVAL_NAMESPACE);
            assert_eq!(location, "allowed_signers:1");
        }
        other => panic!("expected NamespaceNotAllowed, got {other:?}"),
    }
    let approval_sig = fx.keygen_sign(&key.private, APPROVAL_NAMESPACE, MSG, &[]);
    fx.verify_both(&allowed, ALICE, APPROVAL_NAMESPACE, &approval_sig, MSG)
        .unwrap();
    // Namespace patterns work like principal patterns.
    let allowed = allow(ALICE, "namespaces=\"qwarden-*,!qwarden-approval\"", &key);
    fx.verify_both(&allowed, ALICE, MANIFEST_NAMESPACE, &manifest_sig, MSG)
        .unwrap();
    let err = fx
        .verify_both(&allowed, ALICE, APPROVAL_NAMESPACE, &approval_sig, MSG)
        .unwrap_err();
    assert!(
        matches!(err, SignatureError::NamespaceNotAllowed { .. }),
        "{err:?}"
    );
}

#[test]
fn validity_window_is_enforced() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let check = |options: &str| {
        fx.verify_both(
            &allow(ALICE, options, &key),
            ALICE,
            MANIFEST_NAMESPACE,
            &sig,
            MSG,
        )
    };
    // Expired.
    let err = check("valid-before=\"20251231Z\"").unwrap_err();
    match &err {
        SignatureError::OutsideValidity { window, now, .. } => {
            assert_eq!(window, "until 2025-12-31T00:00:00Z");
            assert_eq!(now, "2026-01-15T12:00:00Z");
        }
        other => panic!("expected OutsideValidity, got {other:?}"),
    }
    // Not yet valid.
    let err = check("valid-after=\"202601151201Z\"").unwrap_err();
    assert!(
        matches!(err, SignatureError::OutsideValidity { .. }),
        "{err:?}"
    );
    let err = check("valid-after=\"20270101Z\",valid-before=\"20280101Z\"").unwrap_err();
    assert!(
        matches!(err, SignatureError::OutsideValidity { .. }),
        "{err:?}"
    );
    // Inside the window, and both bounds inclusive.
    check("valid-after=\"20250101Z\",valid-before=\"20270101Z\"").unwrap();
    check(&format!("valid-after=\"{NOW_SSH}\"")).unwrap();
    check(&format!("valid-before=\"{NOW_SSH}\"")).unwrap();
    // A time without `Z` is UTC too (ssh-keygen runs with TZ=UTC here, so it agrees).
    let err = check("valid-before=\"202601151159\"").unwrap_err();
    assert!(
        matches!(err, SignatureError::OutsideValidity { .. }),
        "{err:?}"
    );
}

#[test]
fn malformed_armor_is_rejected() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let signers = AllowedSigners::parse(&allow(ALICE, "", &key), Path::new("a")).unwrap();
    let lines: Vec<&str> = sig.lines().collect();
    let truncated = format!("{}\n{}\n", lines[0], lines[1]);
    let missing_line = {
        let mut l = lines.clone();
        l.remove(2);
        l.join("\n")
    };
    let bad_base64 = sig.replacen(&lines[1][..5], "!!!!!", 1);
    let not_sshsig =
        "-----BEGIN SSH SIGNATURE-----\naGVsbG8gd29ybGQ=\n-----END SSH SIGNATURE-----\n";
    let cases = [
        ("empty", String::new()),
        ("garbage", "this is not a signature".to_owned()),
        (
            "pgp",
            "-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n".to_owned(),
        ),
        ("truncated", truncated),
        ("missing line", missing_line),
        ("bad base64", bad_base64),
        ("not sshsig", not_sshsig.to_owned()),
    ];
    let allowed = allow(ALICE, "", &key);
    for (name, text) in cases {
        let err = verify(MSG, &text, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap_err();
        assert!(
            matches!(err, SignatureError::Malformed { .. }),
            "{name}: {err:?}"
        );
        assert!(
            err.to_string().contains("sign the file again"),
            "{name}: {err}"
        );
        assert!(
            !fx.keygen_verify(&allowed, ALICE, MANIFEST_NAMESPACE, &text, MSG),
            "{name}"
        );
    }
    // Stricter than ssh-keygen, which ignores anything after the END line.
    let trailing = format!("{sig}extra\n");
    assert!(fx.keygen_verify(&allowed, ALICE, MANIFEST_NAMESPACE, &trailing, MSG));
    let err = verify(MSG, &trailing, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap_err();
    assert!(matches!(err, SignatureError::Malformed { .. }), "{err:?}");
}

#[test]
fn allowed_signers_syntax_error_names_file_line_and_column() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let path = fx.write(
        format!(
            "# signers\n{}bob@example.com colour=\"red\" {}\n",
            allow(ALICE, "", &key),
            key.line
        )
        .as_bytes(),
    );
    let err = AllowedSigners::load(&path).unwrap_err();
    match &err {
        SignatureError::AllowedSignersSyntax {
            location,
            problem,
            hint,
        } => {
            assert_eq!(*location, format!("{}:3:17", path.display()));
            assert!(problem.contains("`colour`"), "{problem}");
            assert!(hint.contains("namespaces="), "{hint}");
        }
        other => panic!("expected AllowedSignersSyntax, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with(&format!("{}:3:17: ", path.display())),
        "{err}"
    );
    // ssh-keygen rejects the same file.
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!fx.keygen_verify(&text, "bob@example.com", MANIFEST_NAMESPACE, &sig, MSG));
}

#[test]
fn missing_allowed_signers_file_names_the_path() {
    let fx = Fixture::new();
    let path = fx.path("nowhere/allowed_signers");
    let err = AllowedSigners::load(&path).unwrap_err();
    assert!(
        matches!(err, SignatureError::AllowedSignersRead { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("--allowed-signers"),
        "{text}"
    );
}

#[test]
fn empty_allowed_signers_trusts_nobody() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    for text in ["", "# nobody yet\n\n"] {
        assert!(
            AllowedSigners::parse(text, Path::new("a"))
                .unwrap()
                .is_empty()
        );
        let err = fx
            .verify_both(text, ALICE, MANIFEST_NAMESPACE, &sig, MSG)
            .unwrap_err();
        match &err {
            SignatureError::UntrustedSigner { hint, .. } => {
                assert!(hint.contains("lists no signers"), "{hint}");
                // The hint's suggested line, once added, makes the signature verify.
                let line = hint.split('`').nth(3).unwrap();
                fx.verify_both(&format!("{line}\n"), ALICE, MANIFEST_NAMESPACE, &sig, MSG)
                    .unwrap();
            }
            other => panic!("expected UntrustedSigner, got {other:?}"),
        }
    }
}

#[test]
fn cert_authority_line_does_not_trust_the_plain_key() {
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let err = fx
        .verify_both(
            &allow(ALICE, "cert-authority", &key),
            ALICE,
            MANIFEST_NAMESPACE,
            &sig,
            MSG,
        )
        .unwrap_err();
    assert!(
        matches!(&err, SignatureError::UntrustedSigner { hint, .. } if hint.contains("cert-authority")),
        "{err:?}"
    );
}

#[test]
fn certificate_signatures_are_not_supported() {
    // ssh-keygen accepts a certificate-signed signature through a `cert-authority` line; qwarden
    // deliberately does not (documented), and says why instead of reporting a bad signature.
    let fx = Fixture::new();
    let ca = ed25519(&fx, "ca");
    let user = ed25519(&fx, "user");
    run_ok(
        tool("ssh-keygen")
            .args(["-q", "-s"])
            .arg(&ca.private)
            .args(["-I", "alice", "-n", ALICE, "-V", "20250101:20270101"])
            .arg(&user.public),
        b"",
    );
    let cert = fx.path("user-cert.pub");
    let sig = fx.keygen_sign(&cert, MANIFEST_NAMESPACE, MSG, &[]);
    let allowed = allow(ALICE, "cert-authority", &ca);
    assert!(fx.keygen_verify(&allowed, ALICE, MANIFEST_NAMESPACE, &sig, MSG));
    let signers = AllowedSigners::parse(&allowed, Path::new("a")).unwrap();
    let err = verify(MSG, &sig, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap_err();
    match &err {
        SignatureError::UnsupportedKey { algorithm, hint } => {
            assert_eq!(algorithm, "ssh-ed25519-cert-v01@openssh.com");
            assert!(hint.contains("certificate"), "{hint}");
        }
        other => panic!("expected UnsupportedKey, got {other:?}"),
    }
    // Even with the user key itself listed, a certificate signature is not accepted.
    let signers = AllowedSigners::parse(&allow(ALICE, "", &user), Path::new("a")).unwrap();
    let err = verify(MSG, &sig, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap_err();
    assert!(
        matches!(err, SignatureError::UnsupportedKey { .. }),
        "{err:?}"
    );
}

#[test]
fn rsa_keys_are_refused_both_ways() {
    let fx = Fixture::new();
    let rsa = fx.keygen("rsa", &["-t", "rsa", "-b", "1024"], "");
    let ed = ed25519(&fx, "ed");
    // An allowed-signers file may list RSA keys (for other tools); it still parses.
    let allowed = format!(
        "{}{}",
        allow(ALICE, "", &rsa),
        allow("bob@example.com", "", &ed)
    );
    let signers = AllowedSigners::parse(&allowed, Path::new("a")).unwrap();
    assert_eq!(signers.len(), 2);
    let sig = fx.keygen_sign(&rsa.private, MANIFEST_NAMESPACE, MSG, &[]);
    let err = verify(MSG, &sig, MANIFEST_NAMESPACE, ALICE, &signers, NOW).unwrap_err();
    assert!(
        matches!(&err, SignatureError::UnsupportedKey { algorithm, .. } if algorithm == "ssh-rsa"),
        "{err:?}"
    );
    let err = sign(MSG, MANIFEST_NAMESPACE, &rsa.file()).unwrap_err();
    assert!(
        matches!(err, SignatureError::UnsupportedKey { .. }),
        "{err:?}"
    );
    // The ed25519 line in the same file still works.
    let sig = fx.keygen_sign(&ed.private, MANIFEST_NAMESPACE, MSG, &[]);
    verify(
        MSG,
        &sig,
        MANIFEST_NAMESPACE,
        "bob@example.com",
        &signers,
        NOW,
    )
    .unwrap();
}

#[test]
fn error_messages_are_actionable() {
    // Every message: lower-case, quotes the input in backticks, no Rust type names.
    let fx = Fixture::new();
    let key = ed25519(&fx, "k");
    let other = ed25519(&fx, "other");
    let locked = fx.keygen("locked", &["-t", "ed25519"], "pw");
    let sig = fx.keygen_sign(&key.private, MANIFEST_NAMESPACE, MSG, &[]);
    let approval = fx.keygen_sign(&key.private, APPROVAL_NAMESPACE, MSG, &[]);
    let check = |allowed: &str, principal: &str, sig: &str, msg: &[u8]| {
        let signers = AllowedSigners::parse(allowed, Path::new("allowed_signers")).unwrap();
        verify(msg, sig, MANIFEST_NAMESPACE, principal, &signers, NOW).unwrap_err()
    };
    let errors = vec![
        check(&allow(ALICE, "", &key), ALICE, "junk", MSG),
        check(&allow(ALICE, "", &key), ALICE, &approval, MSG),
        check(&allow(ALICE, "", &key), ALICE, &sig, b"changed"),
        check(&allow(ALICE, "", &other), ALICE, &sig, MSG),
        check("", ALICE, &sig, MSG),
        check(&allow(ALICE, "", &key), "bob@example.com", &sig, MSG),
        check(&allow("*,!bob", "", &key), "bob", &sig, MSG),
        check(&allow(ALICE, "namespaces=\"x\"", &key), ALICE, &sig, MSG),
        check(
            &allow(ALICE, "valid-before=\"20250101\"", &key),
            ALICE,
            &sig,
            MSG,
        ),
        AllowedSigners::parse("alice colour=\"red\" ssh-ed25519 AAAA", Path::new("s")).unwrap_err(),
        AllowedSigners::load(&fx.path("missing")).unwrap_err(),
        sign(MSG, MANIFEST_NAMESPACE, &locked.file()).unwrap_err(),
        sign(
            MSG,
            MANIFEST_NAMESPACE,
            &SigningKey::File {
                path: locked.private.clone(),
                passphrase: Some(Passphrase::new("nope")),
            },
        )
        .unwrap_err(),
        sign(
            MSG,
            MANIFEST_NAMESPACE,
            &SigningKey::Agent {
                public_key: key.public.clone(),
                socket: fx.path("none.sock"),
            },
        )
        .unwrap_err(),
    ];
    for err in errors {
        let text = err.to_string();
        println!("{text}\n");
        let first = text.chars().next().unwrap();
        assert!(!first.is_uppercase(), "{text}");
        // `BadSignature` has no input of the user's to quote.
        assert!(
            text.contains('`') || matches!(err, SignatureError::BadSignature),
            "{text}"
        );
        for type_name in [
            "SshSig", "KeyData", "Error", "Some(", "None", "PathBuf", "\"\"",
        ] {
            assert!(!text.contains(type_name), "{type_name} in: {text}");
        }
    }
}
