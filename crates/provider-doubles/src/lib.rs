//! Test doubles of the two quantum providers qwarden's gateway calls upstream: **IBM Quantum**
//! (IBM Cloud IAM and the Qiskit Runtime REST API) and **IonQ** (API v0.4).
//!
//! Each double is a real HTTP/1.1 server on `127.0.0.1:0`, run on a thread with its own tokio
//! runtime, that speaks the provider's API as qiskit-ibm-runtime 0.51.0 and qiskit-ionq 1.1.1 use
//! it (`shared/fixtures/provider-traffic/`) and as the providers document it: the same paths,
//! fields, authentication headers, job state machines and error shapes. An upstream adapter
//! pointed at a double cannot tell it from the provider, so adapters can be tested end to end
//! without the network.
//!
//! * [`IbmDouble`]: `POST /identity/token` (API key → JWT-shaped bearer token), and under
//!   `/api/v1` (and `/experimental/api/v1`, the form the SDK keeps) the backends, their
//!   configuration, calibration (`properties`, served from the real snapshots in
//!   `shared/fixtures/ibm/`) and status, instance usage, and sampler jobs with results.
//! * [`IonqDouble`]: under `/v0.4` the backends, characterizations, jobs, probabilities and
//!   cancel.
//!
//! The doubles are strict: they check what the real APIs require (authentication, required
//! fields and their types, content types, known backends and jobs) and answer a violation with
//! the provider's status and error body, so that an adapter bug shows up as the failure it would
//! cause in production. Each module says which shapes come from the recorded SDK traffic, which
//! from the providers' documentation, and which are the double's own choice.
//!
//! Job states never move with the clock: a job advances one state per status poll (configurable,
//! or only on request), and knobs make the next job fail, be cancelled or be refused, and make
//! IAM reject the key. Every request is recorded (method, path, query, headers, body and the
//! status answered) for tests to inspect.
//!
//! ```no_run
//! use qwarden_provider_doubles::{IbmConfig, IbmDouble, ibm_fixtures_dir};
//!
//! let ibm = IbmDouble::start(IbmConfig::from_fixtures(&ibm_fixtures_dir()).unwrap());
//! // Point the adapter at ibm.token_url() and ibm.runtime_url(), with ibm.api_key() and
//! // ibm.instance_crn(); then inspect ibm.requests() and ibm.jobs().
//! ```

mod codec;
mod ibm;
mod ionq;
mod server;
mod util;

pub use ibm::{
    APIKEY_GRANT_TYPE, DEFAULT_IBM_API_KEY, DEFAULT_INSTANCE_CRN, DEFAULT_PLAN_ID, DEFAULT_SHOTS,
    IbmBackend, IbmConfig, IbmDouble, IbmJobInfo, IbmJobStatus, MAX_SAMPLES, ibm_fixtures_dir,
};
pub use ionq::{
    DEFAULT_IONQ_API_KEY, IonqBackend, IonqConfig, IonqDouble, IonqJobInfo, IonqJobStatus,
};
pub use server::{MAX_BODY, RecordedRequest, RequestLog};
