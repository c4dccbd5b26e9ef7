//! Pure classification of credential records against a policy.
//!
//! Nothing here reads a clock or does I/O: "now" is always a parameter, so the same records and
//! instant always give the same report.
//!
//! - [`policy`]: the thresholds (`--warn-within`, `--fail-within`, `--no-expiry`, `--strict`);
//! - [`duration`]: reading `30d`-style durations and describing spans to people;
//! - [`classify()`]: judging one record (its module documents the precedence of states);
//! - [`CheckReport`]: judging a whole run, its order and its verdict, with what its records
//!   say about each other (`related`: a version's grace, a disabled current version);
//! - [`Filter`]: choosing records by `--name` and `--tag`.

mod classify;
pub mod dates;
pub mod duration;
mod filter;
mod finding;
mod outcome;
mod policy;
mod related;

#[cfg(test)]
pub(crate) mod fixtures;

pub use classify::classify;
pub use duration::{parse_duration, parse_duration_with_unit};
pub use filter::{Filter, NameGlobs};
pub use finding::{Finding, Severity, State};
pub use outcome::{most_urgent_first, CheckReport, Counts, Status};
pub use policy::{NoExpiry, Policy};
pub use related::is_secret_version;
