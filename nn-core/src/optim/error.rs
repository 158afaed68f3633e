//! Why an optimizer step, restoring optimizer state or a state file failed: [`OptimError`].

use std::path::PathBuf;

/// Why an optimizer step, or restoring optimizer state, failed. Each message names the parameter
/// or file, what was expected and found, and what to do (the crate's error policy, see
/// [`crate::error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptimError {
    /// A parameter's shape differs from the shape its optimizer state was created with.
    #[error(
        "parameter `{name}` has shape {found:?} but its optimizer state has shape {expected:?}; a \
         parameter must keep its shape between steps (call `reset()` on the optimizer, or build a \
         new one, after changing the model)"
    )]
    ShapeChanged {
        /// The parameter's full name.
        name: String,
        /// The shape of its state (the shape it had on earlier steps, or in the restored state).
        expected: Vec<usize>,
        /// Its shape now.
        found: Vec<usize>,
    },
    /// Clipping found a NaN or infinite gradient.
    #[error(
        "the gradient of parameter `{name}` contains NaN or infinity; training diverged (try a \
         lower learning rate)"
    )]
    NonFiniteGradient {
        /// The first parameter, in visiting order, whose gradient is not finite.
        name: String,
    },
    /// Two parameters of the model are reported under the same name, so they would share state.
    #[error(
        "two parameters are both named `{name}`, so they would share optimizer state; give each \
         parameter a distinct name in its layer's `visit`"
    )]
    DuplicateName {
        /// The name reported twice.
        name: String,
    },
    /// A parameter has taken [`MAX_STEP`](super::MAX_STEP) steps, the most an optimizer counts.
    #[error(
        "parameter `{name}` has taken {limit} steps, the most an optimizer counts; call `reset()` \
         on the optimizer, or build a new one, to go on"
    )]
    StepLimit {
        /// The parameter's full name.
        name: String,
        /// [`MAX_STEP`](super::MAX_STEP).
        limit: u64,
    },
    /// The first step after a restore would make a parameter or one of its slots NaN or
    /// infinite; nothing was changed.
    #[error(
        "the first {optimizer} step after restoring its state would make {what} of parameter \
         `{name}` NaN or infinite: the state holds values too large for its settings (saved from \
         a run that diverged, or damaged); nothing was changed; call `reset()` on the optimizer \
         to start its state afresh, or restore another state"
    )]
    NonFiniteUpdate {
        /// The first parameter, in visiting order, whose update is not finite.
        name: String,
        /// `its value` or `its slot `v``.
        what: String,
        /// The algorithm.
        optimizer: &'static str,
    },
    /// Restored state names parameters the model lacks, or lacks some the model has.
    #[error(
        "the restored optimizer state does not match the model's parameters{}{} (was the state \
         saved for another model?)",
        list("; the state has no entry for ", missing),
        list("; the model has no parameter ", unexpected)
    )]
    ParamNames {
        /// Model parameters the restored state has no entry for.
        missing: Vec<String>,
        /// Restored entries the model has no parameter for.
        unexpected: Vec<String>,
    },
    /// The state was saved by another algorithm.
    #[error(
        "optimizer state was saved by {found}, cannot restore it into {expected}; build a {found} \
         optimizer to resume"
    )]
    WrongAlgorithm {
        /// This optimizer's algorithm.
        expected: &'static str,
        /// The algorithm named in the state.
        found: String,
    },
    /// The state is inconsistent: a missing or invalid hyper-parameter, a slot of the wrong size.
    #[error("invalid optimizer state: {message}")]
    InvalidState {
        /// What is wrong, naming the hyper-parameter or parameter.
        message: String,
    },
    /// A state file is not the JSON of an optimizer state, or a state could not be serialised.
    #[error(
        "optimizer state file {}: not a valid optimizer state ({source}); was it written by \
         `save_json`?",
        path.display()
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// The JSON parser's error.
        source: serde_json::Error,
    },
    /// `save_json` refused a state holding NaN or infinity, which JSON cannot represent.
    #[error(
        "optimizer state file {}: {what} contains NaN or infinity (training diverged); not saved",
        path.display()
    )]
    NotFinite {
        /// The file that was not written.
        path: PathBuf,
        /// Which value: "slot `v` of parameter `fc1.weight`".
        what: String,
    },
}

/// `prefix` and up to five names in backticks (`` `a`, `b` and 3 more ``), or nothing for none.
fn list(prefix: &str, names: &[String]) -> String {
    const SHOWN: usize = 5;
    if names.is_empty() {
        return String::new();
    }
    let mut text = prefix.to_string();
    for (i, name) in names.iter().take(SHOWN).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        text.push_str(&format!("{sep}`{name}`"));
    }
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_are_shortened_after_five() {
        let names: Vec<String> = (1..=7).map(|i| format!("p{i}")).collect();
        let err = OptimError::ParamNames {
            missing: names,
            unexpected: vec!["old".into()],
        };
        assert_eq!(
            err.to_string(),
            "the restored optimizer state does not match the model's parameters; the state has no \
             entry for `p1`, `p2`, `p3`, `p4`, `p5` and 2 more; the model has no parameter `old` \
             (was the state saved for another model?)"
        );
    }

    #[test]
    fn a_format_error_keeps_the_parser_error_as_its_source() {
        let json = serde_json::from_str::<u8>("{").unwrap_err();
        let text = json.to_string();
        let err = OptimError::Format {
            path: "opt.json".into(),
            source: json,
        };
        assert!(err.to_string().contains(&text), "{err}");
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), text);
    }
}
