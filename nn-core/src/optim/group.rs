//! [`ParamGroup`]: parameters chosen by path or by a predicate over their names, with a learning
//! rate and weight decay of their own, or frozen (PyTorch's `param_groups`, Keras'
//! `trainable = False`).

use super::rule::check_non_negative;
use std::fmt;
use std::sync::Arc;

/// How a group chooses its parameters.
#[derive(Clone)]
enum Select {
    /// The parameters at or under a layer path.
    Prefix(String),
    /// The parameters a predicate says yes to, by full name.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

/// A group of a model's parameters with its own learning rate and weight decay, or frozen: an
/// entry of PyTorch's `optimizer.param_groups`.
///
/// Parameters no group claims form the optimizer's default group, with its
/// [`learning_rate`](super::Optimizer::learning_rate) and
/// [`weight_decay`](super::Optimizer::weight_decay). A frozen group's parameters are not updated
/// and not decayed, their gradients are not computed when training with a
/// [`Trainer`](crate::train::Trainer), and they take no part in gradient clipping. A rate or decay
/// left unset is the optimizer's when the group is added
/// ([`Optimizer::add_param_group`](super::Optimizer::add_param_group)), as in PyTorch.
///
/// ```
/// use nn_core::optim::{Adam, Optimizer, ParamGroup};
/// // Fine-tuning: the body at a tenth of the head's rate, the first layer frozen.
/// let opt = Adam::new(1e-3)
///     .group(ParamGroup::prefix("body").lr(1e-4))
///     .freeze("stem");
/// assert_eq!(opt.param_groups()[0].learning_rate(), 1e-4);
/// assert!(opt.is_frozen("stem.weight") && !opt.is_frozen("head.weight"));
/// ```
#[derive(Clone)]
pub struct ParamGroup {
    name: String,
    select: Select,
    lr: Option<f32>,
    weight_decay: Option<f32>,
    frozen: bool,
}

impl ParamGroup {
    /// The parameters at or under the layer path `path`: `"fc1"` is `fc1.weight` and `fc1.bias`,
    /// `"block.conv1"` the sub-tree of that layer, `"fc1.weight"` one parameter (`"fc1"` does not
    /// claim `fc10.weight`). The group is called `path`.
    pub fn prefix(path: impl Into<String>) -> Self {
        let path = path.into();
        ParamGroup {
            name: path.clone(),
            select: Select::Prefix(path),
            lr: None,
            weight_decay: None,
            frozen: false,
        }
    }

    /// The parameters `select` says yes to, by full name (`|n| n.ends_with(".bias")`). `name`
    /// names the group in messages and in saved optimizer state, where the predicate cannot go.
    pub fn matching(name: impl Into<String>, select: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        ParamGroup {
            name: name.into(),
            select: Select::Predicate(Arc::new(select)),
            lr: None,
            weight_decay: None,
            frozen: false,
        }
    }

    /// The group's learning rate.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    pub fn lr(mut self, lr: f32) -> Self {
        expect_valid(&self.name, check_non_negative("learning rate", lr));
        self.lr = Some(lr);
        self
    }

    /// The group's L2 weight decay (on its weights, as the optimizer's).
    ///
    /// # Panics
    /// If `lambda` is negative or not finite.
    pub fn weight_decay(mut self, lambda: f32) -> Self {
        expect_valid(&self.name, check_non_negative("weight decay", lambda));
        self.weight_decay = Some(lambda);
        self
    }

    /// Freezes the group: no update, no weight decay, no gradient computed in training.
    pub fn frozen(mut self) -> Self {
        self.frozen = true;
        self
    }

    /// The group's name: its path, or the name given to [`ParamGroup::matching`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path a [`ParamGroup::prefix`] group claims, `None` for a predicate's.
    pub fn path(&self) -> Option<&str> {
        match &self.select {
            Select::Prefix(p) => Some(p),
            Select::Predicate(_) => None,
        }
    }

    /// The group's learning rate (after it was added to an optimizer, always set).
    pub fn learning_rate(&self) -> f32 {
        self.lr.unwrap_or(0.0)
    }

    /// The group's weight decay (after it was added to an optimizer, always set).
    pub fn decay(&self) -> f32 {
        self.weight_decay.unwrap_or(0.0)
    }

    /// Whether the group is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Whether the parameter called `name` (its full name) belongs to the group.
    pub fn claims(&self, name: &str) -> bool {
        match &self.select {
            Select::Prefix(p) => {
                name.starts_with(p.as_str()) && (name.len() == p.len() || name.as_bytes()[p.len()] == b'.')
            }
            Select::Predicate(f) => f(name),
        }
    }

    /// How the group chooses, as saved state records it: `prefix:<path>` or `predicate`.
    pub(super) fn selector(&self) -> String {
        match &self.select {
            Select::Prefix(p) => format!("prefix:{p}"),
            Select::Predicate(_) => "predicate".to_string(),
        }
    }
}

impl fmt::Debug for ParamGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParamGroup")
            .field("name", &self.name)
            .field("select", &self.selector())
            .field("lr", &self.lr)
            .field("weight_decay", &self.weight_decay)
            .field("frozen", &self.frozen)
            .finish()
    }
}

/// Panics with `group: message` for an invalid setting given in code.
fn expect_valid(group: &str, r: Result<(), String>) {
    if let Err(message) = r {
        panic!("parameter group `{group}`: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_claims_its_sub_tree_at_dot_boundaries_only() {
        let g = ParamGroup::prefix("fc1");
        assert!(g.claims("fc1.weight") && g.claims("fc1.bias") && g.claims("fc1"));
        assert!(!g.claims("fc10.weight") && !g.claims("fc") && !g.claims("x.fc1.weight"));
        let g = ParamGroup::prefix("block.conv1");
        assert!(g.claims("block.conv1.weight") && !g.claims("block.conv10.weight"));
        let p = ParamGroup::matching("biases", |n| n.ends_with(".bias"));
        assert!(p.claims("fc1.bias") && !p.claims("fc1.weight"));
        assert_eq!(p.selector(), "predicate");
    }

    #[test]
    #[should_panic(expected = "parameter group `head`: learning rate must be finite and >= 0, got -1")]
    fn a_negative_rate_is_refused_naming_the_group() {
        let _ = ParamGroup::prefix("head").lr(-1.0);
    }
}
