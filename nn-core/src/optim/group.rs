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

    /// Fills the rate and the decay left unset with the optimizer's.
    pub(super) fn resolve(mut self, lr: f32, weight_decay: f32) -> Self {
        self.lr.get_or_insert(lr);
        self.weight_decay.get_or_insert(weight_decay);
        self
    }

    /// Sets the rate (schedules, restoring state).
    pub(super) fn set_lr(&mut self, lr: f32) {
        self.lr = Some(lr);
    }

    /// Sets the decay (restoring state).
    pub(super) fn set_weight_decay(&mut self, lambda: f32) {
        self.weight_decay = Some(lambda);
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

/// The index of the group in `groups` that claims `name`, if any (the first: groups claiming one
/// parameter twice are refused before any step).
pub(super) fn group_of(groups: &[ParamGroup], name: &str) -> Option<usize> {
    groups.iter().position(|g| g.claims(name))
}

/// Up to three layer paths or parameter names of the model (every prefix of `names` that ends
/// at a `.`, and the names themselves) closest to `wanted` by edit distance, closest first.
pub(super) fn closest_paths(wanted: &str, names: &[String]) -> Vec<String> {
    let mut paths: Vec<&str> = Vec::new();
    for name in names {
        for (i, _) in name.match_indices('.').chain(std::iter::once((name.len(), ""))) {
            let path = &name[..i];
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let mut ranked: Vec<(usize, usize, &str)> = paths
        .iter()
        .enumerate()
        .map(|(order, p)| (edit_distance(wanted, p), order, *p))
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(3)
        .map(|(_, _, p)| p.to_string())
        .collect()
}

/// The Levenshtein distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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
    fn unset_settings_take_the_optimizer_s_when_added() {
        let g = ParamGroup::prefix("a").lr(0.5).resolve(0.1, 0.01);
        assert_eq!((g.learning_rate(), g.decay()), (0.5, 0.01));
    }

    #[test]
    fn the_closest_paths_are_layers_and_parameters_by_edit_distance() {
        let names: Vec<String> = [
            "conv1.weight",
            "bn1.weight",
            "fc.weight",
            "fc.bias",
            "block.conv2.weight",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(closest_paths("conv", &names), ["conv1", "bn1", "fc"]);
        assert_eq!(closest_paths("block.conv1", &names)[0], "block.conv2");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    #[should_panic(expected = "parameter group `head`: learning rate must be finite and >= 0, got -1")]
    fn a_negative_rate_is_refused_naming_the_group() {
        let _ = ParamGroup::prefix("head").lr(-1.0);
    }
}
