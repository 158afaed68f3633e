//! [`Snapshot`]: an in-memory copy of a model's parameters and buffers by name, retaken without
//! allocating and restored through the same checks as a file.

use super::apply::{check_then_apply, Elements, Stored};
use crate::error::Result;
use crate::layer::{for_each_buffer, for_each_param, Layer};
use crate::tensor::{Tensor, TensorView};
use std::collections::HashMap;

/// A copy of all parameters and buffers of a model, by name, kept in memory: early stopping takes
/// one at the best epoch and restores it at the end.
///
/// [`Snapshot::recapture`] reuses the snapshot's buffers, so taking a snapshot every epoch
/// allocates only the first time.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    tensors: Vec<(String, Tensor)>,
}

impl Snapshot {
    /// Copies every parameter and buffer of `model`.
    pub fn capture(model: &mut (impl Layer + ?Sized)) -> Self {
        let mut s = Snapshot::default();
        s.recapture(model);
        s
    }

    /// Replaces this snapshot's contents with `model`'s current tensors, reusing the existing
    /// allocations where names and shapes are unchanged.
    pub fn recapture(&mut self, model: &mut (impl Layer + ?Sized)) {
        let mut i = 0;
        let tensors = &mut self.tensors;
        let mut take = |name: &str, t: TensorView<'_>| {
            match tensors.get_mut(i) {
                Some((n, stored)) if n == name && stored.shape() == t.shape() => stored.assign(&t),
                Some(slot) => *slot = (name.to_string(), t.to_owned()),
                None => tensors.push((name.to_string(), t.to_owned())),
            }
            i += 1;
        };
        for_each_param(model, |name, p| take(name, p.value.view()));
        for_each_buffer(model, |name, t| take(name, t.view()));
        tensors.truncate(i);
    }

    /// Writes the snapshot back into `model`. Checks all names and shapes first; on a mismatch
    /// the model is left unchanged and every problem is reported.
    pub fn restore(&self, model: &mut (impl Layer + ?Sized)) -> Result<()> {
        let source: HashMap<&str, Stored<'_>> = self
            .tensors
            .iter()
            .map(|(name, t)| {
                let stored = Stored {
                    shape: t.shape(),
                    elements: Elements::F32(t.view()),
                };
                (name.as_str(), stored)
            })
            .collect();
        // The model's own values, NaN included if it had diverged: restored as they were.
        Ok(check_then_apply(
            model,
            &source,
            &mut str::to_string,
            None,
            false,
        )?)
    }

    /// The number of tensors held.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether the snapshot holds no tensors (a model without parameters or buffers).
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The stored tensor named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::testing::{all_bits, checkpoint_err, input, trained_net, Probe};
    use crate::checkpoint::CheckpointError;
    use crate::layer::Mode;

    #[test]
    fn snapshot_restores_params_and_buffers() {
        let mut net = trained_net(7);
        let best = all_bits(&mut net);
        let mut snap = Snapshot::capture(&mut net);
        assert_eq!(snap.len(), 6);
        net.forward(input(), Mode::Train);
        net[0].w.fill(0.5);
        assert_ne!(all_bits(&mut net), best);
        snap.restore(&mut net).unwrap();
        assert_eq!(all_bits(&mut net), best);

        // Recapturing the same model reuses the stored arrays.
        let ptr = snap.get("0.weight").unwrap().as_ptr();
        net[0].w.fill(0.25);
        snap.recapture(&mut net);
        assert_eq!(snap.get("0.weight").unwrap().as_ptr(), ptr);
        assert_eq!(snap.get("0.weight").unwrap()[[1, 1]], 0.25);
    }

    #[test]
    fn snapshot_refuses_a_different_model() {
        let mut net = trained_net(7);
        let snap = Snapshot::capture(&mut net);
        let mut other = vec![Probe::new(3, 5, 1)];
        let before = all_bits(&mut other);
        let err = checkpoint_err(snap.restore(&mut other).unwrap_err());
        let CheckpointError::Mismatch { path, problems } = &err else {
            panic!("{err:?}")
        };
        assert!(path.is_none());
        // Three tensors of layer 0 with the wrong width, three of layer 1 not in the model.
        assert_eq!(problems.len(), 3 + 3, "{err}");
        assert!(
            err.to_string().starts_with("snapshot does not fit the model"),
            "{err}"
        );
        assert_eq!(all_bits(&mut other), before);
    }
}
