//! qwarden's built-in red-team suite: simulated attacks an autonomous agent could try on a
//! quantum workstation, each run as a real agent inside a real `qwarden run` session, to prove
//! that the controls hold on *this* machine.
//!
//! [`lab::Lab`] is a scratch workstation (its own configuration, state, ledger, home and
//! project) with planted canaries: a fake provider key in `~/.qiskit/qiskit-ibm.json`, a canary
//! notebook outside the agent's write scope, and a canary environment variable. Each
//! [`catalogue::Attack`] says what a real agent would do, which control must stop it, and how
//! to tell whether it got through; [`scorecard::run`] runs them and checks, from the agent's
//! output and the lab's ledger, that each was blocked *and* recorded. Nothing here touches the
//! real workstation's state: the lab lives in a temporary directory and is removed afterwards.
//!
//! [`demo`] uses the same kind of lab for `qwarden demo`: a narrated session of legitimate work,
//! an approval, three refused attacks, and the ledger and a bundle verified at the end.

pub mod catalogue;
pub mod demo;
pub mod lab;
pub mod scorecard;
