//! Notifications: telling people what a run did (`[[notify]]` in keyrot.toml).
//!
//! - [`message`]: a pure model of what happened, which never holds a credential's value.
//! - [`render`]: the formats (Teams Adaptive Card, Slack Block Kit, Standard Webhooks JSON, a
//!   GitHub issue's title and Markdown body), each keeping outside text inert.
//! - [`sign`]: Standard Webhooks signatures.
//! - [`deliver`]: sending to a webhook over keyrot's transport, the URL kept secret.
//!
//! This module knows nothing of rotation or its journal: the caller builds the message from
//! its own report and records the deliveries.

pub mod deliver;
mod lines;
pub mod message;
pub mod render;
pub mod sign;

pub use deliver::{deliver, Channel, Delivery, DeliveryStatus};
pub use message::{
    CredentialOutcome, CredentialReport, Expiring, ExpiryReport, Notification, PlannedAction,
    RunReport, Step, StepResult,
};
pub use sign::new_message_id;
