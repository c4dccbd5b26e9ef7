//! `keyrot serve`: rotation on Key Vault's own events. Event Grid delivers
//! `SecretNearExpiry`/`SecretExpired` (rotate the credential, if that version is still served)
//! and `SecretNewVersionCreated` (push a version written outside keyrot to its copies, where
//! the credential opts in) to `POST /events`; a timer sweep covers what events never announce
//! (Entra passwords, a missed event). Every instance runs the same rotation protocol as
//! `keyrot rotate`, under the same Key Vault lock, so several can serve one config.
//!
//! - [`events`]: deliveries in both schemas, read as real ones are.
//! - [`auth`]: who may deliver (Entra token, `?key=`, or the Functions host in front).
//! - [`engine`]: events to work to the answer Event Grid's retry rules need.
//! - [`envelope`]: the Functions custom handler's invocation envelope.
//! - [`http`]: routes, limits, answers.
//! - [`log`]: one JSON line per event.

pub mod auth;
pub mod engine;
pub mod envelope;
pub mod events;
pub mod http;
pub mod log;
