//! A minimal ssh-agent client: just enough of draft-miller-ssh-agent to ask for one signature.
//!
//! The agent holds the private key; we send the public key blob and the bytes to sign
//! (`SSH_AGENTC_SIGN_REQUEST`) and get back an SSH signature blob (`SSH_AGENT_SIGN_RESPONSE`).
//! No timeout is set: an agent may legitimately wait for a confirmation (`ssh-add -c`) or a
//! security-key touch, exactly as with `ssh-keygen -Y sign`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::take_string;

/// `SSH_AGENT_FAILURE`.
const AGENT_FAILURE: u8 = 5;
/// `SSH_AGENTC_SIGN_REQUEST`.
const AGENTC_SIGN_REQUEST: u8 = 13;
/// `SSH_AGENT_SIGN_RESPONSE`.
const AGENT_SIGN_RESPONSE: u8 = 14;
/// `SSH_AGENT_EXTENSION_FAILURE`.
const AGENT_EXTENSION_FAILURE: u8 = 28;
/// `SSH2_AGENT_FAILURE` (ssh.com agents).
const SSH_COM_AGENT2_FAILURE: u8 = 102;
/// Largest reply we accept, as OpenSSH's `AGENT_MAX_LEN`.
const MAX_REPLY: usize = 256 * 1024;

/// Why the agent gave no signature.
#[derive(Debug)]
pub(super) enum AgentError {
    /// The agent answered with a failure message: key not loaded, or the user declined.
    Refused,
    /// Connection, I/O or protocol trouble, described for a human.
    Protocol(String),
}

/// Asks the agent behind `socket` to sign `data` with the key whose public blob is `key_blob`.
/// Returns the SSH signature blob (`string algorithm, string signature`).
pub(super) fn sign(socket: &Path, key_blob: &[u8], data: &[u8]) -> Result<Vec<u8>, AgentError> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| AgentError::Protocol(format!("cannot connect to the socket: {e}")))?;

    let mut body = Vec::with_capacity(key_blob.len() + data.len() + 16);
    body.push(AGENTC_SIGN_REQUEST);
    put_string(&mut body, key_blob)?;
    put_string(&mut body, data)?;
    // Flags: none. RSA keys, which would need SSH_AGENT_RSA_SHA2_512, are refused before this.
    body.extend_from_slice(&0u32.to_be_bytes());
    let mut frame = Vec::with_capacity(body.len() + 4);
    put_string(&mut frame, &body)?;
    stream
        .write_all(&frame)
        .map_err(|e| AgentError::Protocol(format!("cannot send the request: {e}")))?;

    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| AgentError::Protocol(format!("no reply: {e}")))?;
    let len = usize::try_from(u32::from_be_bytes(len))
        .map_err(|_| AgentError::Protocol("reply length out of range".to_owned()))?;
    if len == 0 || len > MAX_REPLY {
        return Err(AgentError::Protocol(format!(
            "reply of {len} bytes is not a valid agent message"
        )));
    }
    let mut reply = vec![0u8; len];
    stream
        .read_exact(&mut reply)
        .map_err(|e| AgentError::Protocol(format!("truncated reply: {e}")))?;

    let (kind, rest) = reply
        .split_first()
        .ok_or_else(|| AgentError::Protocol("empty reply".to_owned()))?;
    match *kind {
        AGENT_SIGN_RESPONSE => {
            let (signature, rest) = take_string(rest)
                .ok_or_else(|| AgentError::Protocol("malformed sign response".to_owned()))?;
            if !rest.is_empty() {
                return Err(AgentError::Protocol(
                    "sign response has trailing bytes".to_owned(),
                ));
            }
            Ok(signature.to_vec())
        }
        AGENT_FAILURE | AGENT_EXTENSION_FAILURE | SSH_COM_AGENT2_FAILURE => {
            Err(AgentError::Refused)
        }
        other => Err(AgentError::Protocol(format!(
            "unexpected reply type {other} to a sign request"
        ))),
    }
}

/// Appends an SSH `string` (u32 length, bytes).
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), AgentError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| AgentError::Protocol("request too large".to_owned()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// Runs a one-shot fake agent that answers with `reply` (already framed) and returns what
    /// it received.
    fn fake_agent(reply: Vec<u8>) -> (tempfile::TempDir, std::thread::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("agent")).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut len = [0u8; 4];
            conn.read_exact(&mut len).unwrap();
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            conn.read_exact(&mut body).unwrap();
            conn.write_all(&reply).unwrap();
            body
        });
        (dir, handle)
    }

    #[test]
    fn request_encoding_and_response_parsing() {
        let mut reply_body = vec![AGENT_SIGN_RESPONSE];
        put_string(&mut reply_body, b"sigblob").unwrap();
        let mut reply = Vec::new();
        put_string(&mut reply, &reply_body).unwrap();
        let (dir, agent) = fake_agent(reply);
        let sig = sign(&dir.path().join("agent"), b"KEY", b"DATA").unwrap();
        assert_eq!(sig, b"sigblob");
        let request = agent.join().unwrap();
        assert_eq!(
            request,
            b"\x0d\x00\x00\x00\x03KEY\x00\x00\x00\x04DATA\x00\x00\x00\x00".to_vec()
        );
    }

    #[test]
    fn failure_replies_are_refusals() {
        for kind in [
            AGENT_FAILURE,
            AGENT_EXTENSION_FAILURE,
            SSH_COM_AGENT2_FAILURE,
        ] {
            let (dir, agent) = fake_agent(vec![0, 0, 0, 1, kind]);
            let err = sign(&dir.path().join("agent"), b"K", b"D").unwrap_err();
            assert!(matches!(err, AgentError::Refused), "{kind}: {err:?}");
            agent.join().unwrap();
        }
    }

    #[test]
    fn hostile_replies_are_protocol_errors() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0, 0],                    // empty message
            vec![0xff, 0xff, 0xff, 0xff],        // absurd length
            vec![0, 0, 0, 1, 99],                // unknown type
            vec![0, 0, 0, 5, 14, 0, 0, 0, 9],    // string longer than the message
            vec![0, 0, 0, 6, 14, 0, 0, 0, 0, 1], // trailing bytes
            vec![0, 0, 0, 9, 14],                // truncated
        ];
        for reply in cases {
            let (dir, agent) = fake_agent(reply.clone());
            let err = sign(&dir.path().join("agent"), b"K", b"D").unwrap_err();
            assert!(matches!(err, AgentError::Protocol(_)), "{reply:?}: {err:?}");
            agent.join().unwrap();
        }
    }
}
