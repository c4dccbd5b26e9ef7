//! keyrot guards and rotates the credentials of Azure applications from inside release pipelines.
//!
//! The binary (`main.rs`) only parses flags, runs a command and maps the outcome to an exit
//! code; everything else lives here so integration tests and later commands share it.

pub mod arm;
pub mod auth;
pub mod check;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod dataplane;
pub mod devops;
pub mod fetch;
pub mod github;
pub mod graph;
pub mod hardening;
pub mod keys;
pub mod model;
pub mod notify;
pub mod outcome;
pub mod paging;
pub mod report;
pub mod rotate;
pub mod serve;
pub mod transport;
pub mod vault;
