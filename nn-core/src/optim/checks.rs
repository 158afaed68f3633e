//! What [`Optim`] checks before it updates: which parameters each group claims, and that every
//! parameter's state fits it (shape, step count, one name per parameter, the names a restored
//! state expects); it also measures the gradients' global norm for clipping.

use super::driver::Optim;
use super::error::OptimError;
use super::group::{closest_paths, group_of};
use super::regularization::sum_sq_eff_grad;
use super::rule::{UpdateRule, MAX_STEP};
use crate::error::Result;
use crate::layer::{for_each_param, param_names, Layer};
use std::collections::HashSet;

impl<R: UpdateRule> Optim<R> {
    /// Which parameters of `model` each group claims: every group some, no parameter two, and
    /// after `load_state` the same ones as when the state was saved.
    pub(super) fn claim(&mut self, model: &mut dyn Layer) -> Result<(), OptimError> {
        let names = param_names(model);
        let mut members = vec![Vec::new(); self.groups.len()];
        for name in &names {
            let mut claimed = self.groups.iter().enumerate().filter(|(_, g)| g.claims(name));
            if let Some((first, _)) = claimed.next() {
                if let Some((second, _)) = claimed.next() {
                    return Err(OptimError::GroupOverlap {
                        name: name.clone(),
                        first: self.groups[first].name().to_string(),
                        second: self.groups[second].name().to_string(),
                    });
                }
                members[first].push(name.clone());
            }
        }
        for (group, claimed) in self.groups.iter().zip(&members) {
            if claimed.is_empty() {
                return Err(OptimError::GroupClaimsNothing {
                    group: group.name().to_string(),
                    predicate: group.path().is_none(),
                    closest: closest_paths(group.name(), &names),
                });
            }
        }
        if self.check_names || self.trial {
            // Restored: the groups must claim what they claimed when the state was saved.
            for ((group, saved), now) in self.groups.iter().zip(&self.members).zip(&members) {
                if !saved.is_empty() && saved != now {
                    return Err(OptimError::GroupMembers {
                        group: group.name().to_string(),
                        saved: saved.clone(),
                        found: now.clone(),
                    });
                }
            }
        }
        self.members = members;
        Ok(())
    }

    /// Checks every parameter's state shape and step count, that no two parameters share a name
    /// (and, after `load_state`, that the names are the state's), and returns the clipping
    /// factor (measured only if `norm`).
    pub(super) fn check(&mut self, model: &mut dyn Layer, norm: bool) -> Result<f32, OptimError> {
        if self.check_groups {
            self.claim(model)?;
            self.check_groups = false;
        }
        self.epoch += 1;
        let epoch = self.epoch;
        let mut error = None;
        let mut sum_sq = 0.0f64;
        let mut matched = 0usize;
        let mut missing = Vec::new();
        // Names without state yet; allocates only on steps that meet new parameters.
        let mut new_names = HashSet::new();
        let groups = &self.groups;
        let frozen = |name: &str| group_of(groups, name).is_some_and(|g| groups[g].is_frozen());
        for_each_param(model, |name, p| {
            if error.is_some() || frozen(name) {
                return;
            }
            let l2 = match group_of(groups, name) {
                Some(g) => groups[g].decay(),
                None => self.weight_decay,
            };
            let duplicate = || OptimError::DuplicateName {
                name: name.to_owned(),
            };
            match self.states.get_mut(name) {
                Some(state) if state.seen == epoch => {
                    error = Some(duplicate());
                    return;
                }
                Some(state) if state.shape != p.value.shape() => {
                    error = Some(OptimError::ShapeChanged {
                        name: name.to_owned(),
                        expected: state.shape.clone(),
                        found: p.value.shape().to_vec(),
                    });
                    return;
                }
                Some(state) if state.step >= MAX_STEP => {
                    error = Some(OptimError::StepLimit {
                        name: name.to_owned(),
                        limit: MAX_STEP,
                    });
                    return;
                }
                Some(state) => {
                    state.seen = epoch;
                    matched += 1;
                }
                None if !new_names.insert(name.to_owned()) => {
                    error = Some(duplicate());
                    return;
                }
                None if self.check_names => missing.push(name.to_owned()),
                None => {}
            }
            if norm && self.clip_grad_norm.is_some() {
                let l2 = if p.kind.decays() { l2 } else { 0.0 };
                let sq = sum_sq_eff_grad(p.value.view(), p.grad.view(), l2);
                if !sq.is_finite() {
                    error = Some(OptimError::NonFiniteGradient {
                        name: name.to_owned(),
                    });
                    return;
                }
                sum_sq += sq;
            }
        });
        if let Some(error) = error {
            return Err(error);
        }
        if self.check_names && (!missing.is_empty() || matched != self.states.len()) {
            let mut names = param_names(model);
            names.retain(|n| !frozen(n));
            let mut unexpected: Vec<String> = self
                .states
                .keys()
                .filter(|k| !names.contains(k))
                .cloned()
                .collect();
            unexpected.sort();
            return Err(OptimError::ParamNames { missing, unexpected });
        }
        Ok(match self.clip_grad_norm {
            Some(max_norm) => {
                let norm = sum_sq.sqrt();
                if norm > max_norm as f64 {
                    (max_norm as f64 / norm) as f32
                } else {
                    1.0
                }
            }
            None => 1.0,
        })
    }
}
