//! The outcomes the program branches on: invalid input (exit 2) and a failed deploy (exit 1).
//!
//! Everything else is an `anyhow::Error` with context, which ends as a failed deploy.

use crate::gha::Location;

/// One thing wrong with the inputs or files, with where it is when a file is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    pub at: Location,
    pub message: String,
}

impl InputProblem {
    pub fn new(message: impl Into<String>) -> Self {
        InputProblem {
            at: Location::default(),
            message: message.into(),
        }
    }

    pub fn at(at: Location, message: impl Into<String>) -> Self {
        InputProblem {
            at,
            message: message.into(),
        }
    }
}

/// Why a run stopped before it could report a result of its own.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The inputs or files are wrong; nothing in AWS was changed.
    #[error("{} problem(s) with the inputs", .0.len())]
    Input(Vec<InputProblem>),
    /// Anything else: AWS refused, the network failed, a rollout failed.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<Vec<InputProblem>> for Failure {
    fn from(p: Vec<InputProblem>) -> Self {
        Failure::Input(p)
    }
}

impl From<InputProblem> for Failure {
    fn from(p: InputProblem) -> Self {
        Failure::Input(vec![p])
    }
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_INPUT: u8 = 2;
