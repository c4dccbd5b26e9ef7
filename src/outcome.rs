//! How a command ends, and the exit code each ending maps to (documented in `--help`).

/// A command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: the gate passed (warnings included) or the command did its job.
    Ok,
    /// Exit 1: the gate failed, a fetch was refused, or a rotation failed.
    GateFailed,
    /// Exit 4: another run is rotating a credential; this one changed nothing there.
    RotationInProgress,
}

/// A command that could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Exit 2: the user's flags, environment or files are wrong; retrying will not help.
    #[error("{0}")]
    Usage(String),
    /// Exit 3: something outside keyrot failed (auth, network, TLS, permission, the service).
    #[error("{0}")]
    Runtime(String),
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::GateFailed => 1,
            Outcome::RotationInProgress => 4,
        }
    }
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Runtime(_) => 3,
        }
    }
}
