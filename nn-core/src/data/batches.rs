//! [`Batches`]: the mini-batches of any [`DataSource`], in an order fixed by (seed, epoch),
//! filled into one reused [`Batch`]; the one path by which training, evaluation and prediction
//! read data.

use super::batch::Batch;
use super::source::{DataSource, FillContext};
use crate::error::Result;
use crate::rng;
use rand::seq::SliceRandom;

/// Mini-batches over a [`DataSource`], filled into one reused [`Batch`].
///
/// [`Batches::next_batch`] hands out the batches of one epoch and then `None` once; the call
/// after that starts the next epoch. So `while let Some(batch) = batches.next_batch()? { .. }`
/// is one epoch. Shuffled (from [`DataSource::batches`] or [`Batches::shuffled`]), epoch `e`'s
/// order is the source's order shuffled by an RNG seeded with the seed and `e` alone: the same
/// seed gives the same batches, bit for bit, and [`Batches::set_epoch`] jumps to any epoch's
/// order (for resuming) without drawing the ones before. Otherwise every epoch is in order.
///
/// The last batch of an epoch is smaller when the batch size does not divide the source's
/// length; it is kept unless [`Batches::drop_last`] is set.
///
/// The batch is lent mutably so a caller may move `inputs` out (into `Layer::forward`, which
/// takes its input by value) and put a tensor of the same shape back, e.g. the input gradient that
/// `backward` returns; then no step allocates a batch buffer:
///
/// ```
/// # use nn_core::{seeded, Dataset, DataSource, Init, Layer, Linear, Mode, SoftmaxCrossEntropy};
/// # use nn_core::loss::Loss;
/// # let data = Dataset::from_f32(vec![0.5; 40 * 784], &[784], vec![3; 40], 10).unwrap();
/// # let mut net = Linear::new(784, 10, Init::He, &mut seeded(1));
/// # let mut loss = SoftmaxCrossEntropy::new();
/// let mut batches = data.batches(10, 4321);
/// while let Some(batch) = batches.next_batch()? {
///     let logits = net.forward(std::mem::take(&mut batch.inputs), Mode::Train);
///     loss.forward(logits, batch.targets());
///     batch.inputs = net.backward(loss.backward()); // [batch, 784] again: recycled next fill
/// }
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// A tensor of another shape (or none) put back is simply replaced at the next fill.
pub struct Batches<'a> {
    source: &'a dyn DataSource,
    batch_size: usize,
    drop_last: bool,
    /// The seed of the per-epoch shuffles; `None` keeps the source's order.
    seed: Option<u64>,
    /// Whether batches are filled as training batches (see [`FillContext`]).
    training: bool,
    order: Vec<usize>,
    pos: usize,
    /// The 0-based index of the epoch under way, or of the next one between epochs.
    epoch: usize,
    in_epoch: bool,
    batch: Batch,
}

impl<'a> Batches<'a> {
    /// Batches of `batch_size` samples of `source`, in order, filled as evaluation batches;
    /// [`Batches::shuffled`] and [`Batches::training`] change that.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn new(source: &'a dyn DataSource, batch_size: usize) -> Self {
        assert!(batch_size > 0, "batch size must be at least 1");
        Batches {
            source,
            batch_size,
            drop_last: false,
            seed: None,
            training: false,
            order: (0..source.len()).collect(),
            pos: 0,
            epoch: 0,
            in_epoch: false,
            batch: Batch::new(),
        }
    }

    /// Reshuffles every epoch, by an RNG seeded with `seed` and the epoch alone.
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Whether the batches are for training steps: the source sees it in
    /// [`FillContext::training`] (augmentation, say, applies to training batches only).
    pub fn training(mut self, training: bool) -> Self {
        self.training = training;
        self
    }

    /// Whether to skip the last batch of an epoch when it is smaller than the batch size.
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Makes the next batch the first of epoch `epoch` (0-based), in that epoch's order, leaving
    /// any epoch under way (PyTorch's `DistributedSampler.set_epoch`).
    pub fn set_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.in_epoch = false;
    }

    /// The next batch of the current epoch, or `None` at its end (the next call starts a new
    /// epoch). Fails if the source's fill fails (a file that cannot be read).
    ///
    /// # Panics
    /// If the source's fill breaks its own description (other input or target shapes than it
    /// declares), naming the source.
    pub fn next_batch(&mut self) -> Result<Option<&mut Batch>> {
        if !self.in_epoch {
            self.start_epoch();
        }
        let remaining = self.order.len() - self.pos;
        if remaining == 0 || (self.drop_last && remaining < self.batch_size) {
            self.in_epoch = false;
            self.epoch += 1;
            return Ok(None);
        }
        let take = remaining.min(self.batch_size);
        let indices = &self.order[self.pos..self.pos + take];
        self.pos += take;
        let context = FillContext {
            epoch: self.epoch,
            training: self.training,
        };
        self.batch.clear_targets();
        self.source.fill(indices, &mut self.batch, context)?;
        let source = self.source;
        if let Err(e) = self
            .batch
            .check_filled(take, source.input_shape(), source.target_kind())
        {
            panic!("{}: {e}", source.name());
        }
        Ok(Some(&mut self.batch))
    }

    /// Puts `self.order` in epoch `self.epoch`'s order: the identity, shuffled by an RNG that
    /// depends only on the seed and the epoch (so no epoch depends on the ones drawn before).
    fn start_epoch(&mut self) {
        if let Some(seed) = self.seed {
            self.order.clear();
            self.order.extend(0..self.source.len());
            self.order
                .shuffle(&mut rng::seeded(rng::epoch_seed(seed, self.epoch)));
        }
        self.pos = 0;
        self.in_epoch = true;
    }

    /// The 0-based index of the epoch under way (0 during the first), or of the next one after an
    /// epoch's `None`.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// How many batches one epoch yields.
    pub fn batches_per_epoch(&self) -> usize {
        let n = self.source.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The source the batches come from.
    pub fn source(&self) -> &'a dyn DataSource {
        self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, TargetKind, Targets};

    /// `n` 2x3 "images" whose pixels encode the sample index, labels `i % classes`.
    fn pixels(n: usize, classes: usize) -> Dataset {
        let px: Vec<u8> = (0..n * 6).map(|k| (k / 6 * 10 + k % 6) as u8).collect();
        Dataset::from_u8(px, &[2, 3], (0..n).map(|i| i % classes).collect(), classes).unwrap()
    }

    /// The class targets of a batch.
    fn labels(batch: &Batch) -> Vec<usize> {
        match batch.targets() {
            Targets::Classes(c) => c.to_vec(),
            other => panic!("class targets expected, got {:?}", other.kind()),
        }
    }

    /// The sample indices of one epoch, in batch order (labels of a dataset labelled 0..n).
    fn epoch_order(b: &mut Batches<'_>) -> Vec<usize> {
        std::iter::from_fn(|| b.next_batch().unwrap().map(|batch| labels(batch)))
            .flatten()
            .collect()
    }

    fn numbered(n: usize) -> Dataset {
        Dataset::from_f32(vec![0.0; n], &[1], (0..n).collect(), n).unwrap()
    }

    #[test]
    fn each_epochs_order_is_a_permutation_fixed_by_seed_and_epoch() {
        let d = numbered(50);
        let mut b = d.batches(7, 5);
        let (e0, e1) = (epoch_order(&mut b), epoch_order(&mut b));
        let mut sorted = e0.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(e0, e1, "the second epoch is reshuffled");
        assert_eq!(b.epoch(), 2);
        // Epoch 1's order does not depend on epoch 0 having been drawn first.
        let mut fresh = d.batches(7, 5);
        fresh.set_epoch(1);
        assert_eq!(epoch_order(&mut fresh), e1);
        // set_epoch mid-epoch starts that epoch afresh.
        let mut again = d.batches(7, 5);
        again.next_batch().unwrap();
        again.set_epoch(0);
        assert_eq!(epoch_order(&mut again), e0);
        assert_ne!(epoch_order(&mut d.batches(7, 6)), e0);
        let mut in_order = d.batches_in_order(7);
        in_order.set_epoch(3);
        assert_eq!(epoch_order(&mut in_order), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn the_order_is_pinned() {
        // The trainer's shuffles, and so every saved history, depend on this exact order (it is
        // the order of `Trainer` before it drew from `Batches`): a change here changes every run.
        let d = numbered(10);
        let mut b = d.batches(3, 4321);
        assert_eq!(epoch_order(&mut b), [1, 4, 7, 8, 5, 6, 2, 9, 0, 3]);
        assert_eq!(epoch_order(&mut b), [5, 0, 1, 2, 6, 4, 9, 7, 3, 8]);
    }

    fn epoch_batches(b: &mut Batches<'_>) -> Vec<(Vec<f32>, Vec<usize>)> {
        let mut out = Vec::new();
        while let Some(batch) = b.next_batch().unwrap() {
            out.push((batch.inputs.iter().copied().collect(), labels(batch)));
        }
        out
    }

    #[test]
    fn same_seed_same_batches_and_each_epoch_reshuffles() {
        let d = pixels(23, 4);
        let mut a = d.batches(5, 3);
        let mut b = d.batches(5, 3);
        let (a1, a2) = (epoch_batches(&mut a), epoch_batches(&mut a));
        let (b1, b2) = (epoch_batches(&mut b), epoch_batches(&mut b));
        assert_eq!(a1.len(), 5);
        let bits = |e: &Vec<(Vec<f32>, Vec<usize>)>| -> Vec<u32> {
            e.iter()
                .flat_map(|(x, _)| x.iter().map(|v| v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&a1), bits(&b1));
        assert_eq!(bits(&a2), bits(&b2));
        assert_eq!(
            a1.iter().map(|x| &x.1).collect::<Vec<_>>(),
            b1.iter().map(|x| &x.1).collect::<Vec<_>>()
        );
        assert_ne!(bits(&a1), bits(&a2), "second epoch must be reshuffled");
        assert_eq!(a.epoch(), 2);
        let mut c = d.batches(5, 4);
        assert_ne!(bits(&epoch_batches(&mut c)), bits(&a1));
        // Every epoch is a permutation of the whole set.
        let mut seen: Vec<usize> = a2
            .iter()
            .flat_map(|(x, _)| x.iter().step_by(6).map(|v| (v * 25.5).round() as usize))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
    }

    #[test]
    fn keep_or_drop_last_partial_batch() {
        let d = pixels(23, 4);
        let mut keep = d.batches(5, 1);
        let sizes: Vec<usize> = std::iter::from_fn(|| keep.next_batch().unwrap().map(|b| b.len())).collect();
        assert_eq!(sizes, vec![5, 5, 5, 5, 3]);
        assert_eq!(keep.batches_per_epoch(), 5);
        let mut drop = d.batches(5, 1).drop_last(true);
        let sizes: Vec<usize> = std::iter::from_fn(|| drop.next_batch().unwrap().map(|b| b.len())).collect();
        assert_eq!(sizes, vec![5, 5, 5, 5]);
        assert_eq!(drop.batches_per_epoch(), 4);
        // The next epoch starts after the None.
        assert_eq!(
            drop.next_batch().unwrap().map(|b| b.inputs.shape().to_vec()),
            Some(vec![5, 2, 3])
        );
    }

    #[test]
    fn buffer_is_reused_across_batches_and_epochs() {
        let d = pixels(23, 4);
        let mut it = d.batches(5, 1);
        let ptr = it.next_batch().unwrap().unwrap().inputs.as_ptr();
        for _ in 0..12 {
            if let Some(b) = it.next_batch().unwrap() {
                assert_eq!(b.inputs.as_ptr(), ptr, "batch buffer was reallocated");
            }
        }
        assert_eq!(it.epoch(), 2, "two epochs ended, the third is under way");
    }

    #[test]
    fn in_order_batches_cover_the_dataset_in_order() {
        let d = pixels(7, 3);
        let mut it = d.batches_in_order(3);
        let order: Vec<usize> = std::iter::from_fn(|| it.next_batch().unwrap().map(|b| labels(b)))
            .flatten()
            .collect();
        assert_eq!(order, d.labels().unwrap());
    }

    /// A source that says it gives class targets but fills values.
    struct Liar;

    impl DataSource for Liar {
        fn len(&self) -> usize {
            3
        }
        fn input_shape(&self) -> &[usize] {
            &[1]
        }
        fn target_kind(&self) -> TargetKind<'_> {
            TargetKind::Classes(2)
        }
        fn fill(&self, indices: &[usize], batch: &mut Batch, _: FillContext) -> Result<()> {
            batch.inputs_mut(indices.len(), &[1]);
            batch.values_mut(indices.len(), &[1]);
            Ok(())
        }
    }

    #[test]
    #[should_panic(
        expected = "Liar: declares class indices below 2, shape [N] but a fill of 2 samples left values"
    )]
    fn a_source_that_breaks_its_declaration_panics_naming_it() {
        let _ = Batches::new(&Liar, 2).next_batch();
    }

    /// Records the context of every fill.
    struct Contexts(std::sync::Mutex<Vec<FillContext>>);

    impl DataSource for Contexts {
        fn len(&self) -> usize {
            4
        }
        fn input_shape(&self) -> &[usize] {
            &[1]
        }
        fn target_kind(&self) -> TargetKind<'_> {
            TargetKind::None
        }
        fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> Result<()> {
            batch.inputs_mut(indices.len(), &[1]);
            self.0.lock().unwrap().push(context);
            Ok(())
        }
    }

    #[test]
    fn the_fill_knows_the_epoch_and_whether_it_trains() {
        let source = Contexts(Default::default());
        let mut train = source.batches(2, 1);
        train.set_epoch(3);
        while train.next_batch().unwrap().is_some() {}
        let mut eval = source.batches_in_order(4);
        while eval.next_batch().unwrap().is_some() {}
        assert_eq!(
            *source.0.lock().unwrap(),
            [FillContext::train(3), FillContext::train(3), FillContext::eval()]
        );
    }
}
