//! The session supervisor: `qwarden run` as a library.
//!
//! It turns a [`Grant`] into a sandbox plan, writes `session.start` to the ledger, starts the
//! sandbox, records what the observer sees while the agent runs (execs, writes, denials) with
//! group commit, then hashes the write set, turns staging's captured writes into a review branch
//! or patch, writes `session.end` with the summary and keeps a signed checkpoint. The agent's exit
//! status is the session's.

pub mod approvals;
pub mod bundles;
mod cgroup;
mod devices;
mod doctor;
mod events;
mod guard;
mod jobs;
mod net;
pub mod providers;
mod summary;

pub use doctor::{Probe, doctor};
pub use jobs::{CasCalibrations, refused_event, submitted_event};

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use qwarden_ledger::cas::{Digest, DirCas};
use qwarden_ledger::event::{Event, SessionEnd, SessionStart, Timestamp, Violation};
use qwarden_ledger::home::LedgerHome;
use qwarden_ledger::log::{CheckpointPolicy, Ledger};
use qwarden_policy::Grant;
use qwarden_policy::Outcome;
use qwarden_sandbox::observe::{self, Observation};
use qwarden_sandbox::plan::{Egress, Isolation, Limits, Plan, Spec, View, WriteMode, WriteScope};
use qwarden_sandbox::review::{FinishOptions, ReviewCopy, ReviewOutcome};
use qwarden_sandbox::seccomp::Listener;
use qwarden_sandbox::spawn::{EndpointKind, Report, Sandbox};
use qwarden_sandbox::writeset::{self, Snapshot};

pub use summary::{Counts, Summary, WriteSetEntry};

/// Everything a session needs besides the grant.
#[derive(Debug, Clone)]
pub struct Options {
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// The working directory (must be inside a granted scope).
    pub cwd: PathBuf,
    /// The user's home directory.
    pub home: PathBuf,
    /// qwarden's state directory (ledger, CAS, session scratch).
    pub state_dir: PathBuf,
    /// Credential stores, absolute: opening one is always refused.
    pub credential_stores: Vec<PathBuf>,
    /// Extra read-only paths from the profile.
    pub system_paths: Vec<PathBuf>,
    /// The lowest Landlock ABI accepted.
    pub landlock_min_abi: u32,
    /// Whether read-only opens are observed.
    pub observe_reads: bool,
    /// The ledger's checkpoint schedule.
    pub checkpoints: CheckpointPolicy,
    /// The executable that implements the sandbox init, and its arguments.
    pub init: (PathBuf, Vec<String>),
    /// The human allowed running without any kernel isolation.
    pub allow_unsandboxed: bool,
    /// Force a degraded isolation (for `doctor` and tests of the degraded path).
    pub force_isolation: Option<Isolation>,
    /// The supervisor's environment (the sandbox gets an allowlisted part of it).
    pub host_env: Vec<(String, String)>,
    /// Witnesses to push the session's final checkpoint to (the profile's `[[ledger.witnesses]]`).
    pub witnesses: Vec<qwarden_ledger::witness::WitnessConfig>,
    /// The granted IonQ provider the gateway forwards to, if any.
    pub ionq: Option<providers::Ionq>,
    /// The granted IBM provider the gateway forwards to, if any.
    pub ibm: Option<providers::Ibm>,
    /// The approvers and rules for jobs that need approval (`None`: such jobs are refused).
    pub approvals: Option<approvals::Approvals>,
}

/// Why a session could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The grant does not allow a session.
    #[error("the grant does not allow this agent to run a session here: {0}")]
    NotGranted(String),
    /// The plan is invalid.
    #[error(transparent)]
    Plan(#[from] qwarden_sandbox::plan::PlanError),
    /// The ledger failed.
    #[error("audit ledger: {0}")]
    Ledger(String),
    /// The sandbox could not be set up.
    #[error(
        "the sandbox could not be set up: {0}; `qwarden doctor` shows what this machine lacks and how to fix it"
    )]
    Sandbox(String),
    /// No kernel isolation is available and the human did not allow running without it.
    #[error(
        "this machine offers neither user namespaces nor Landlock ({0}); qwarden refuses to run an agent unconfined. Run `qwarden doctor` for the fix, or pass `--allow-unsandboxed` on the command line to accept the risk (it is logged)"
    )]
    NoIsolation(String),
    /// The command does not exist inside the sandbox.
    #[error(
        "{0}; the sandbox shows the system directories, the profile's `[sandbox] read_only` paths and the scopes"
    )]
    CommandNotFound(String),
    /// Preparing the write scopes failed.
    #[error("cannot prepare the write scopes: {0}")]
    Scopes(String),
    /// A file operation failed.
    #[error("{what} `{path}`: {source}")]
    Io {
        /// What was done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SessionError + 'a {
    move |source| SessionError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A new session id: the UTC time and 48 random bits, usable in git branch names.
pub fn new_session_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let mut r = [0u8; 6];
    let rand = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut r))
        .is_ok();
    if !rand {
        r = (now.unix_timestamp_nanos() as u64).to_le_bytes()[..6]
            .try_into()
            .unwrap_or([0; 6]);
    }
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        hex_of(&r)
    )
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Which isolation this machine can give, without starting anything: user namespaces are tried
/// for real by the init; this only rules out what is certainly missing.
fn choose_isolation(opts: &Options) -> Result<Isolation, SessionError> {
    if let Some(i) = opts.force_isolation {
        // Asking for the degraded mode on a kernel without Landlock would leave nothing at all.
        if i == Isolation::LandlockOnly && qwarden_sandbox::landlock::abi_version() == 0 {
            return if opts.allow_unsandboxed {
                Ok(Isolation::Unsandboxed)
            } else {
                Err(SessionError::NoIsolation(
                    "namespaces were turned off and this kernel has no Landlock".into(),
                ))
            };
        }
        return Ok(i);
    }
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .map(|s| s.trim() != "0")
        .unwrap_or(false);
    if userns {
        return Ok(Isolation::Full);
    }
    if qwarden_sandbox::landlock::abi_version() > 0 {
        return Ok(Isolation::LandlockOnly);
    }
    if opts.allow_unsandboxed {
        return Ok(Isolation::Unsandboxed);
    }
    Err(SessionError::NoIsolation(
        "user.max_user_namespaces is 0 and Landlock is not enabled".into(),
    ))
}

/// The write scopes as the sandbox takes them, the ones written directly (for the write set), and
/// the review copies of the captured ones.
type Scopes = (Vec<WriteScope>, Vec<PathBuf>, Vec<ReviewCopy>);

/// The write scopes by tier: allowed writes go straight in, captured ones to a review copy
/// (made only when `copy` is set), the rest are read-only.
fn write_scopes(grant: &Grant, run_dir: &Path, copy: bool) -> Result<Scopes, SessionError> {
    let mut write = Vec::new();
    let mut direct = Vec::new();
    let mut reviews = Vec::new();
    for (i, w) in grant.filesystem.write.iter().enumerate() {
        if !w.path.is_dir() {
            // Nothing to show: a scope that does not exist is not mounted (and not created).
            continue;
        }
        let mode = match w.outcome {
            Outcome::Allow | Outcome::Listed => {
                direct.push(w.path.clone());
                WriteMode::Direct
            }
            Outcome::Capture => {
                let copy_dir = run_dir.join("review").join(i.to_string());
                if copy {
                    reviews.push(
                        ReviewCopy::create(&w.path, &copy_dir)
                            .map_err(|e| SessionError::Scopes(e.to_string()))?,
                    );
                }
                WriteMode::Review { copy: copy_dir }
            }
            Outcome::NeedsApproval { .. } | Outcome::Deny => WriteMode::ReadOnly,
        };
        write.push(WriteScope {
            path: w.path.clone(),
            mode,
        });
    }
    Ok((write, direct, reviews))
}

fn spec_for(
    grant: &Grant,
    opts: &Options,
    session: &str,
    run_dir: &Path,
    write: Vec<WriteScope>,
    isolation: Isolation,
) -> Spec {
    Spec {
        session: session.to_owned(),
        read: grant
            .filesystem
            .read
            .iter()
            .map(|r| r.path.clone())
            .filter(|p| p.exists())
            .collect(),
        write,
        hidden: grant.filesystem.deny.clone(),
        credential_stores: opts.credential_stores.clone(),
        protected: grant.filesystem.protected.clone(),
        system_paths: opts.system_paths.clone(),
        // Devices the tier gates are added only once approved (see `approvals::devices`).
        devices: grant
            .devices
            .iter()
            .filter(|d| {
                d.outcome.is_granted() && !matches!(d.outcome, Outcome::NeedsApproval { .. })
            })
            .flat_map(|d| devices::nodes(&d.device))
            .collect(),
        home: opts.home.clone(),
        cwd: opts.cwd.clone(),
        argv: opts.argv.clone(),
        set_env: vec![("QWARDEN_AGENT".into(), grant.agent.name.clone())],
        limits: Limits {
            memory_bytes: grant.limits.memory_mb.saturating_mul(1024 * 1024),
            processes: grant.limits.processes,
            open_files: grant.limits.open_files,
            cpu_seconds: grant.limits.cpu_seconds,
        },
        isolation,
        landlock_min_abi: opts.landlock_min_abi,
        observe_reads: opts.observe_reads,
        egress: Egress::default(),
        root_dir: run_dir.join("root"),
        run_dir: run_dir.to_path_buf(),
    }
}

/// The plan a session of `grant` would run, without running it (`qwarden run --dry-run`).
pub fn plan(grant: &Grant, opts: &Options) -> Result<Plan, SessionError> {
    let isolation = choose_isolation(opts)?;
    let run_dir = opts.state_dir.join("run").join("dry-run");
    let (write, _, _) = write_scopes(grant, &run_dir, false)?;
    Ok(Plan::build(
        &spec_for(grant, opts, "dry-run", &run_dir, write, isolation),
        &opts.host_env,
    )?)
}

/// Runs one session of `grant`'s agent. Returns the summary; the agent's exit code is in it.
pub fn run(grant: &Grant, opts: &Options) -> Result<Summary, SessionError> {
    if !grant.session.outcome.is_granted() {
        return Err(SessionError::NotGranted(grant.session.reasons.join("; ")));
    }
    let started = Instant::now();
    let session = new_session_id();
    let run_dir = opts.state_dir.join("run").join(&session);
    std::fs::create_dir_all(&run_dir).map_err(io("cannot create", &run_dir))?;
    let mut cleanup = guard::Cleanup {
        run_dir: run_dir.clone(),
        cgroups: None,
    };
    let mut isolation = choose_isolation(opts)?;
    let ledger = LedgerHome::new(&opts.state_dir)
        .open(opts.checkpoints)
        .map_err(|e| SessionError::Ledger(e.to_string()))?;
    let cas_dir = opts.state_dir.join("cas");
    let mut cas = DirCas::open(&cas_dir).map_err(|e| SessionError::Ledger(e.to_string()))?;

    let (write, direct, reviews) = write_scopes(grant, &run_dir, true)?;
    let before = Snapshot::take(&direct).map_err(|e| SessionError::Scopes(e.to_string()))?;
    let mut spec = spec_for(grant, opts, &session, &run_dir, write, isolation);
    // Keys that may not approve this agent's requests: found once (a walk of its read scopes),
    // for its device and job requests alike.
    let excluded_keys = opts
        .approvals
        .as_ref()
        .map(|_| approvals::excluded_keys(grant))
        .unwrap_or_default();
    let device_approvals = approvals::devices(
        grant,
        &session,
        &opts.state_dir,
        opts.approvals.as_ref(),
        &excluded_keys,
    );
    spec.devices
        .extend(device_approvals.approved.iter().flat_map(devices::nodes));
    let (cgroups, cgroup_warnings) =
        cgroup::Cgroups::create(&session, spec.limits.memory_bytes, spec.limits.processes);
    let cgroup_procs = cgroups.procs();
    let cgroup_text = cgroups.describe();
    let cgroups = cleanup.cgroups.insert(cgroups);
    // Protected paths that exist in direct-write scopes are saved, to be put back if anything
    // gets past the read-only mounts and the observer.
    let protected_direct: Vec<PathBuf> = grant
        .filesystem
        .protected
        .iter()
        .filter(|p| direct.iter().any(|d| p.starts_with(d)))
        .cloned()
        .collect();
    let backups = guard::Backups::take(&protected_direct, &run_dir.join("protected"))
        .map_err(|e| SessionError::Scopes(format!("cannot back up the protected paths: {e}")))?;
    let mut host_proxy: Option<std::net::TcpListener>;
    let mut host_gateway: Option<std::net::TcpListener>;
    // The agent's credential handles: minted now (they go in its environment), recorded once
    // the session has started.
    let (handles, handle_env, mint_events) =
        jobs::Handles::mint(grant, &session).map_err(SessionError::Sandbox)?;
    let handles = std::sync::Arc::new(handles);
    let want_gateway = !handles.is_empty();
    // The IonQ adapter, if the grant names IonQ and its endpoint can be used from here; if not,
    // the session runs without IonQ endpoints and says why.
    let mut gateway_warnings = Vec::new();
    let calibrations: std::sync::Arc<dyn qwarden_gateway::upstream::ionq::CalibrationStore> =
        std::sync::Arc::new(jobs::CasCalibrations::new(opts.state_dir.join("cas")));
    let mut not_offered = |provider: &str, e: String| {
        gateway_warnings.push(format!(
            "provider `{provider}` is not offered in this session: {e}"
        ));
    };
    let mut ionq = opts.ionq.as_ref().and_then(|u| {
        u.adapter(calibrations.clone())
            .map_err(|e| not_offered(&u.provider, e))
            .ok()
            .map(|upstream| (u.provider.clone(), upstream))
    });
    let mut ibm = opts.ibm.as_ref().and_then(|u| {
        u.adapter(calibrations.clone())
            .and_then(qwarden_gateway::ibm::IbmApi::new)
            .map_err(|e| not_offered(&u.provider, e))
            .ok()
            .map(|api| (u.provider.clone(), u.endpoints.instance_crn.clone(), api))
    });
    let (sandbox, mut confinement, plan) = loop {
        if isolation != Isolation::Full {
            // No mount namespace: the agent's home and temporary directory are private
            // directories of the session's.
            for d in ["home", "tmp"] {
                let dir = run_dir.join(d);
                std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
            }
            spec.home = run_dir.join("home");
            if isolation == Isolation::Unsandboxed {
                spec.landlock_min_abi = 0;
            }
        } else {
            std::fs::create_dir_all(&spec.root_dir).map_err(io("cannot create", &spec.root_dir))?;
        }
        spec.isolation = isolation;
        // Full isolation: the proxy's sockets are made inside the sandbox's network namespace.
        // Degraded: on the host's loopback, and Landlock lets the agent connect to that port only.
        host_proxy = None;
        host_gateway = None;
        let mut gateway_port = None;
        let proxy_port = if isolation == Isolation::Full {
            spec.egress = Egress::default();
            if want_gateway {
                spec.egress.gateway_port = Some(qwarden_sandbox::plan::DEFAULT_GATEWAY_PORT);
                gateway_port = spec.egress.gateway_port;
            }
            spec.egress.proxy_port
        } else {
            let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| {
                SessionError::Sandbox(format!("cannot listen for the egress proxy: {e}"))
            })?;
            let port = l
                .local_addr()
                .map_err(|e| SessionError::Sandbox(e.to_string()))?
                .port();
            host_proxy = Some(l);
            spec.egress = Egress {
                host_proxy_port: Some(port),
                ..Egress::default()
            };
            if want_gateway {
                let g = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| {
                    SessionError::Sandbox(format!("cannot listen for the job gateway: {e}"))
                })?;
                let gport = g
                    .local_addr()
                    .map_err(|e| SessionError::Sandbox(e.to_string()))?
                    .port();
                host_gateway = Some(g);
                spec.egress.host_gateway_port = Some(gport);
                gateway_port = Some(gport);
            }
            port
        };
        spec.set_env.retain(|(k, _)| k == "QWARDEN_AGENT");
        spec.set_env.extend(qwarden_egress::client_env(proxy_port));
        if let Some(port) = gateway_port {
            spec.set_env.push((
                "QWARDEN_GATEWAY_URL".into(),
                format!("http://127.0.0.1:{port}"),
            ));
            spec.set_env.extend(handle_env.iter().cloned());
            // The SDKs' own variables point at the gateway, with the handles as their keys.
            spec.set_env.extend(providers::sdk_env(
                port,
                &handle_env,
                ionq.as_ref().map(|(p, _)| p.as_str()),
                ibm.as_ref().map(|(p, crn, _)| (p.as_str(), crn.as_str())),
            ));
        }
        let mut plan = Plan::build(&spec, &opts.host_env)?;
        plan.cgroup_procs = cgroup_procs.clone();
        let init_args: Vec<&str> = opts.init.1.iter().map(String::as_str).collect();
        // Ctrl-C and hang-ups go to the agent through the sandbox's init (which must inherit
        // ignoring them); a SIGTERM to qwarden is passed on. Either way the session ends the
        // normal way, with its write set and `session.end`.
        let _ = qwarden_sandbox::sys::forward_termination(0);
        let sandbox = Sandbox::start(&plan, &opts.init.0, &init_args)
            .map_err(|e| SessionError::Sandbox(e.to_string()))?;
        let _ = qwarden_sandbox::sys::forward_termination(sandbox.pid() as i32);
        match first_reports(&sandbox) {
            Ok((mut confinement, listener, endpoints)) => {
                confinement.extend(sandbox.warnings().iter().map(|w| format!("warning: {w}")));
                break (sandbox, confinement, (plan, listener, endpoints));
            }
            Err(Early::NotFound(e)) => {
                let _ = sandbox.wait();
                return Err(SessionError::CommandNotFound(e));
            }
            Err(Early::Failed(e))
                if isolation == Isolation::Full && e.contains("cannot create namespaces") =>
            {
                let _ = sandbox.wait();
                // User namespaces exist but are refused (e.g. Ubuntu's AppArmor restriction).
                isolation = if qwarden_sandbox::landlock::abi_version() > 0 {
                    Isolation::LandlockOnly
                } else if opts.allow_unsandboxed {
                    Isolation::Unsandboxed
                } else {
                    return Err(SessionError::NoIsolation(e));
                };
            }
            Err(Early::Failed(e)) => {
                let _ = sandbox.wait();
                return Err(SessionError::Sandbox(e));
            }
        }
    };
    let (plan, listener, endpoints) = plan;
    confinement.insert(0, isolation.describe().to_owned());
    confinement.push(match cgroup_text {
        Some(c) => format!("limits: rlimits + {c}"),
        None => "limits: rlimits only".to_owned(),
    });
    let isolation_text = confinement.join("; ");

    let env_digest = Digest::of(&serde_json::to_vec(&plan.env).unwrap_or_default());
    let start = Event::new(
        Timestamp::now(),
        SessionStart {
            manifest_digest: digest_of(&grant.manifest_digest),
            grant_digest: digest_of(&grant.digest()),
            env_digest,
            tier: grant.tier.to_string(),
            isolation: Some(isolation_text.clone()),
        },
    )
    .with_session(&session)
    .with_agent(&grant.agent.name)
    .with_details(serde_json::json!({
        "argv": plan.argv,
        "cwd": plan.cwd,
        "mounts": plan.mounts.len(),
        "limits": plan.limits,
    }));
    // The environment manifest is taken while the agent runs; the first bundle waits for it.
    let environment_job =
        bundles::take_environment(&opts.state_dir, &plan.env, grant.tier.to_string());
    let env_event = events::env_change(&plan.env)
        .with_session(&session)
        .with_agent(&grant.agent.name);

    // Observe on one thread, record on another: the agent waits on the observer, never on fsync.
    // session.start goes first through the same queue, so it is the session's first entry while
    // the agent already runs.
    let view = View::of(&spec);
    // Bounded: an agent that floods denials is slowed down by its own queue, never the
    // supervisor's memory.
    let (tx, rx) = mpsc::sync_channel::<events::Item>(16 * 1024);
    let _ = tx.send(events::Item::Event(Box::new(start)));
    let _ = tx.send(events::Item::Event(Box::new(env_event)));
    for e in mint_events.into_iter().chain(device_approvals.events) {
        let _ = tx.send(events::Item::Gateway(Box::new(e)));
    }
    handles.attach(tx.clone());
    let job_sink = std::sync::Arc::new(jobs::LedgerJobs::new(tx.clone()));
    let gate_sink = std::sync::Arc::new(approvals::LedgerGate::new(events::Queue::new(tx.clone())));
    let sink = std::sync::Arc::new(net::LedgerSink::new(tx.clone()));
    let (endpoints, from_init_gateway) = split_gateway(endpoints);
    let mut gateway_state = None;
    let gateway = match from_init_gateway.or(host_gateway) {
        Some(listener) => {
            // Jobs the tier says need approval wait at the gate; without approvers configured
            // there is no gate and they are refused, saying why.
            let gate = match &opts.approvals {
                Some(a) => {
                    match approvals::gate(
                        grant,
                        &session,
                        &opts.state_dir,
                        a,
                        &excluded_keys,
                        gate_sink.clone(),
                    ) {
                        Ok(g) => Some(g),
                        Err(e) => {
                            gateway_warnings.push(format!(
                                "jobs that need approval are refused in this session: {e}"
                            ));
                            None
                        }
                    }
                }
                None => None,
            };
            let state = std::sync::Arc::new(qwarden_gateway::server::State {
                admission: qwarden_gateway::admission::Admission::new(grant.qpu.clone()),
                auth: handles.clone(),
                sink: job_sink.clone(),
                native: qwarden_gateway::native::Native::new(0)
                    .with_calibrations(calibrations.clone()),
                ionq: ionq.take().map(|(_, upstream)| upstream),
                ibm: ibm.take().map(|(_, _, api)| api),
                gate,
            });
            gateway_state = Some(state.clone());
            match qwarden_gateway::server::Gateway::start(listener, state) {
                Ok(g) => Some(g),
                Err(e) => {
                    let _ = qwarden_sandbox::sys::kill(
                        sandbox.pid() as i32,
                        qwarden_sandbox::sys::SIGKILL,
                    );
                    return Err(SessionError::Sandbox(format!(
                        "cannot start the job gateway: {e}"
                    )));
                }
            }
        }
        None => None,
    };
    let renewer = renew_handles(handles.clone());
    let proxy = match egress_endpoints(endpoints, host_proxy) {
        Some(endpoints) => {
            raise_open_files();
            let rules = qwarden_egress::Rules::from_grant(&grant.network);
            match qwarden_egress::Proxy::start(rules, endpoints, sink.clone()) {
                Ok(p) => Some(p),
                Err(e) => {
                    // Without the proxy nothing gets out, and nothing would be recorded: stop.
                    let _ = qwarden_sandbox::sys::kill(
                        sandbox.pid() as i32,
                        qwarden_sandbox::sys::SIGKILL,
                    );
                    return Err(SessionError::Sandbox(format!(
                        "cannot start the egress proxy: {e}"
                    )));
                }
            }
        }
        None => None,
    };
    let cache_path = opts.state_dir.join("exec-digests.tsv");
    let init_pid = sandbox.pid() as i32;
    let observer = std::thread::spawn(move || {
        let listener = Listener::from(listener);
        let mut send = |o: Observation| tx.send(events::Item::Observed(o)).is_ok();
        let mut hashes = observe::HashCache::load(&cache_path);
        let stopped = observe::observe(&listener, &view, &mut hashes, &mut send);
        let _ = hashes.save(&cache_path);
        if let observe::Stopped::Failed(e) = &stopped {
            // Unobserved, the agent would act unrecorded (and, with the listener gone, its
            // refused system calls would fail open to a filter of its own): end it now.
            let _ = qwarden_sandbox::sys::kill(init_pid, qwarden_sandbox::sys::SIGKILL);
            return Some(e.to_string());
        }
        None
    });
    let recorder = {
        let session = session.clone();
        let agent = grant.agent.name.clone();
        let state = opts.state_dir.clone();
        let checkpoints = opts.checkpoints;
        let mut bundler = bundles::Bundler::new(
            &state,
            qwarden_bundle::job::SessionInfo {
                id: session.clone(),
                agent: agent.clone(),
                manifest_digest: grant.manifest_digest.clone(),
                tier: grant.tier.to_string(),
            },
            environment_job.clone(),
        );
        std::thread::spawn(move || {
            let recorded =
                events::record_all(&rx, &state, checkpoints, &session, &agent, &mut bundler);
            if recorded.is_err() {
                // The log cannot be written: nothing the agent does from here would be on record.
                let _ = qwarden_sandbox::sys::kill(init_pid, qwarden_sandbox::sys::SIGKILL);
            }
            recorded
        })
    };
    let mut status = None;
    let mut warnings = cgroup_warnings;
    warnings.append(&mut gateway_warnings);
    warnings.extend(device_approvals.warnings);
    for scope in grant.filesystem.read.iter().chain(&grant.filesystem.write) {
        if !scope.path.exists() {
            warnings.push(format!(
                "scope {} does not exist, so the agent does not see it (qwarden never creates scopes)",
                scope.path.display()
            ));
        }
    }
    loop {
        match sandbox.next() {
            Report::Exited(s) => {
                status = Some(s);
            }
            Report::Warning(w) => warnings.push(w),
            Report::Failed(e) | Report::NotFound(e) => warnings.push(e),
            Report::Closed => break,
            Report::Listener(_) | Report::Confinement(_) | Report::Endpoint { .. } => {}
        }
    }
    let init_code = sandbox.wait().unwrap_or(125);
    // Connections still open are closed and recorded before the recorder's queue closes.
    if let Some(p) = proxy {
        p.stop();
    }
    sink.close();
    drop(sink);
    if let Some(g) = gateway {
        g.stop();
    }
    // Requests still waiting end with the session.
    if let Some(gate) = gateway_state.as_ref().and_then(|s| s.gate.as_ref()) {
        gate.close();
    }
    drop(gateway_state);
    drop(renewer);
    handles.revoke();
    job_sink.close();
    gate_sink.close();
    if let Ok(Some(e)) = observer.join() {
        warnings.push(format!("observation failed, the agent was stopped: {e}"));
    }
    let counted = recorder
        .join()
        .map_err(|_| SessionError::Ledger("the recorder thread panicked".into()))?
        .map_err(SessionError::Ledger)?;
    let mut counts = counted.counts;
    let mut end_events = Vec::new();
    for (limit, hits) in cgroups.hits() {
        counts.violations += 1;
        end_events.push(Event::new(
            Timestamp::now(),
            Violation {
                attempted: format!("exceed the {limit} ({hits} time(s))"),
                control: "cgroup".into(),
                target: None,
                pid: None,
            },
        ));
    }

    // The authoritative write set: what changed in the scopes, whatever the observer saw.
    let after = before
        .refresh(&direct)
        .map_err(|e| SessionError::Scopes(e.to_string()))?;
    let mut changes = writeset::diff(&before, &after);
    // qwarden's own files (the ledger, when the state directory sits inside a scope) are not
    // the agent's writes.
    changes.retain(|c| !opts.credential_stores.iter().any(|s| c.path.starts_with(s)));
    // The sandbox's mounts are nosuid, the host's are not: a setuid or setgid file the agent
    // left behind would run with the invoking user's (or root's) rights for anyone. The bits go.
    for c in &changes {
        let Some(mode) = c.mode_after else { continue };
        if c.kind == writeset::EntryKind::File && mode & 0o6000 != 0 {
            counts.violations += 1;
            let stripped = std::fs::set_permissions(
                &c.path,
                std::os::unix::fs::PermissionsExt::from_mode(mode & 0o1777),
            );
            end_events.push(
                Event::new(
                    Timestamp::now(),
                    Violation {
                        attempted: "leave a setuid or setgid file".into(),
                        control: "write-set-audit".into(),
                        target: Some(c.path.display().to_string()),
                        pid: None,
                    },
                )
                .with_details(serde_json::json!({
                    "mode": format!("{:o}", mode & 0o7777),
                    "stripped": stripped.is_ok(),
                })),
            );
        }
    }
    let protected = &grant.filesystem.protected;
    let quarantine = opts.state_dir.join("quarantine").join(&session);
    for p in &protected_direct {
        let touched: Vec<String> = changes
            .iter()
            .filter(|c| c.path.starts_with(p))
            .map(|c| format!("{} {}", c.op.as_str(), c.path.display()))
            .collect();
        if touched.is_empty() {
            continue;
        }
        // Only a race past the observer, or a call it does not see (binding a socket), gets
        // here: the read-only mounts refuse the rest. Whatever happened is undone: a git hook
        // or CI file must not outlive the session.
        counts.violations += 1;
        let undone = if backups.has(p) {
            backups
                .restore(p)
                .map(|()| "restored from the copy taken at session start".to_owned())
        } else {
            guard::quarantine(p, &quarantine).map(|to| format!("moved to {}", to.display()))
        };
        end_events.push(
            Event::new(
                Timestamp::now(),
                Violation {
                    attempted: "change a protected path".into(),
                    control: "write-set-audit".into(),
                    target: Some(p.display().to_string()),
                    pid: None,
                },
            )
            .with_details(serde_json::json!({
                "changes": touched,
                "undone": undone.as_ref().ok(),
                "undo_failed": undone.as_ref().err().map(ToString::to_string),
            })),
        );
        if let Err(e) = undone {
            warnings.push(format!(
                "could not undo the change to protected {}: {e}",
                p.display()
            ));
        }
    }
    let mut review_outcomes = Vec::new();
    for rc in &reviews {
        let outcome = rc
            .finish(&FinishOptions {
                session_id: session.clone(),
                agent: grant.agent.name.clone(),
                protected: protected.clone(),
                patch_dir: opts.state_dir.join("reviews"),
            })
            .map_err(|e| SessionError::Scopes(e.to_string()))?;
        let (files, refused): (&[writeset::Change], &[writeset::Change]) = match &outcome {
            ReviewOutcome::NoChanges { refused, .. } => (&[], refused),
            ReviewOutcome::Branch { files, refused, .. }
            | ReviewOutcome::Patch { files, refused, .. } => (files, refused),
        };
        {
            changes.extend(files.iter().cloned());
            {
                for r in refused {
                    counts.violations += 1;
                    end_events.push(Event::new(
                        Timestamp::now(),
                        Violation {
                            attempted: "write to a protected path (left out of the review)".into(),
                            control: "review".into(),
                            target: Some(r.path.display().to_string()),
                            pid: None,
                        },
                    ));
                }
            }
        }
        review_outcomes.push(outcome);
    }
    for rc in reviews {
        let _ = rc.discard();
    }
    counts.file_writes = changes.len() as u64;
    end_events.extend(changes.iter().map(events::file_write));
    let write_set_digest = (!changes.is_empty()).then(|| digest_of(&writeset::digest(&changes)));
    let exit = events::exit_status(status);
    let end = Event::new(
        Timestamp::now(),
        SessionEnd {
            exit,
            summary: counts.to_event(),
            write_set_digest,
        },
    )
    .with_details(match environment_job.as_ref().map(|e| e.digest()) {
        // The session's environment manifest, for `bundle rerun --session` and `diff-env`.
        Some(Ok(digest)) => serde_json::json!({ "warnings": warnings, "environment": digest }),
        Some(Err(e)) => serde_json::json!({ "warnings": warnings, "environment_error": e }),
        None => serde_json::json!({ "warnings": warnings }),
    });
    end_events.push(end);
    let end_events: Vec<Event> = end_events
        .into_iter()
        .map(|e| e.with_session(&session).with_agent(&grant.agent.name))
        .collect();
    let end_index = append(&ledger, &mut cas, &end_events)?;
    let checkpoint = ledger
        .keep_checkpoint()
        .map_err(|e| SessionError::Ledger(e.to_string()))?;
    // Anchor the session's record outside the workstation. A witness that cannot be reached is a
    // warning: the session happened and is recorded either way.
    let mut witnessed = Vec::new();
    for w in &opts.witnesses {
        match qwarden_ledger::witness::push(ledger.root(), ledger.verifier(), w) {
            Ok(o) => witnessed.push(format!("{} cosigned size {}", w.name, o.size)),
            Err(e) => warnings.push(format!("witness {}: {e}", w.name)),
        }
    }
    drop(cleanup);
    let code = match (exit.code, exit.signal) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => init_code,
    };
    Ok(Summary {
        session,
        agent: grant.agent.name.clone(),
        tier: grant.tier.to_string(),
        isolation: isolation_text,
        exit_code: code,
        duration_ms: started.elapsed().as_millis() as u64,
        counts,
        commands: counted.commands,
        denials: counted.denials,
        write_set: changes.iter().map(WriteSetEntry::from).collect(),
        reviews: review_outcomes
            .iter()
            .filter_map(summary::review_line)
            .collect(),
        warnings,
        ledger_first: counted.first_index.unwrap_or(end_index),
        ledger_last: end_index,
        checkpoint_size: checkpoint.size,
        checkpoint_root: hex_of(&checkpoint.root),
        witnessed,
    })
}

pub(crate) fn digest_of(s: &str) -> Digest {
    s.parse().unwrap_or_else(|_| Digest::of(s.as_bytes()))
}

/// Appends events durably as one batch; returns the index of the last.
fn append(ledger: &Ledger, cas: &mut DirCas, events: &[Event]) -> Result<u64, SessionError> {
    let entries = events
        .iter()
        .map(|e| e.to_jcs(cas))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SessionError::Ledger(e.to_string()))?;
    let first = ledger
        .append_all(&entries)
        .map_err(|e| SessionError::Ledger(e.to_string()))?;
    Ok(first + (entries.len() as u64).saturating_sub(1))
}

/// The sockets the egress proxy serves: the ones the init made in the sandbox's network
/// namespace, or (degraded) the host loopback listener made here.
fn egress_endpoints(
    from_init: Endpoints,
    host_proxy: Option<std::net::TcpListener>,
) -> Option<qwarden_egress::Endpoints> {
    let mut proxy = host_proxy;
    let (mut dns_udp, mut dns_tcp) = (None, None);
    for (kind, fd) in from_init {
        match kind {
            EndpointKind::Proxy => proxy = Some(std::net::TcpListener::from(fd)),
            EndpointKind::DnsUdp => dns_udp = Some(std::net::UdpSocket::from(fd)),
            EndpointKind::DnsTcp => dns_tcp = Some(std::net::TcpListener::from(fd)),
            // Split off before (see `split_gateway`).
            EndpointKind::Gateway => {}
        }
    }
    Some(qwarden_egress::Endpoints {
        proxy: proxy?,
        dns_udp,
        dns_tcp,
    })
}

/// The gateway's listener, taken out of the endpoints the init handed over.
fn split_gateway(endpoints: Endpoints) -> (Endpoints, Option<std::net::TcpListener>) {
    let mut gateway = None;
    let rest = endpoints
        .into_iter()
        .filter_map(|(kind, fd)| {
            if kind == EndpointKind::Gateway {
                gateway = Some(std::net::TcpListener::from(fd));
                None
            } else {
                Some((kind, fd))
            }
        })
        .collect();
    (rest, gateway)
}

/// Renews the session's handles every five minutes until the returned sender is dropped.
fn renew_handles(handles: std::sync::Arc<jobs::Handles>) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(std::time::Duration::from_secs(300))
        {
            handles.renew();
        }
    });
    stop
}

/// The proxy holds two descriptors per tunnel: lift the supervisor's soft limit on open files
/// to the hard one (the sandbox sets its own).
fn raise_open_files() {
    if let Ok((_, hard)) = qwarden_sandbox::sys::get_rlimit(libc::RLIMIT_NOFILE) {
        let _ = qwarden_sandbox::sys::set_rlimit(libc::RLIMIT_NOFILE, hard);
    }
}

/// Why the sandbox did not reach the point of running the agent.
enum Early {
    Failed(String),
    NotFound(String),
}

/// The egress endpoints the init handed over (full isolation only).
type Endpoints = Vec<(EndpointKind, std::os::fd::OwnedFd)>;

/// Reads the init's reports up to the seccomp listener, collecting the egress endpoints that
/// come before it.
fn first_reports(
    sandbox: &Sandbox,
) -> Result<(Vec<String>, std::os::fd::OwnedFd, Endpoints), Early> {
    let mut confinement = Vec::new();
    let mut endpoints = Vec::new();
    loop {
        match sandbox.next() {
            Report::Listener(fd) => return Ok((confinement, fd, endpoints)),
            Report::Endpoint { kind, fd } => endpoints.push((kind, fd)),
            Report::Confinement(c) => confinement.push(c),
            Report::Warning(w) => confinement.push(format!("warning: {w}")),
            Report::Failed(e) => return Err(Early::Failed(e)),
            Report::NotFound(e) => return Err(Early::NotFound(e)),
            Report::Exited(_) | Report::Closed => {
                return Err(Early::Failed(
                    "the sandbox init exited before the agent started".into(),
                ));
            }
        }
    }
}
