//! Control over training, as a user writes it: freezing and parameter groups, callbacks (one of
//! the user's own, checkpoints, ReduceLROnPlateau, CSV logging), and a run resumed from a
//! checkpoint ending with the same bits as one never interrupted.

use crate::trainer::metrics;
use nn::data::{FillContext, TargetKind};
use nn::prelude::*;
use nn::train::{EpochRecord, TrainError};
use nn::{Error, Snapshot};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A classifier with BatchNorm and dropout, by fields: `fc1`, `bn1`, …, `head`.
#[derive(Sequential)]
struct Net {
    fc1: Linear,
    bn1: BatchNorm,
    act1: Relu,
    drop: Dropout,
    fc2: Linear,
    bn2: BatchNorm,
    act2: Relu,
    head: Linear,
}

impl Net {
    fn new(seed: u64) -> Self {
        let mut rng = seeded(seed);
        Net {
            fc1: Linear::new(8, 16, Init::He, &mut rng),
            bn1: BatchNorm::new(16),
            act1: Relu::new(),
            drop: Dropout::from_rng(0.2, &mut rng),
            fc2: Linear::new(16, 12, Init::He, &mut rng),
            bn2: BatchNorm::new(12),
            act2: Relu::new(),
            head: Linear::new(12, 3, Init::He, &mut rng),
        }
    }
}

/// `n` samples of 8 features in 3 noisy blobs.
fn blobs(n: usize, seed: u64) -> Dataset {
    use nn::rand::Rng as _;
    let mut rng = seeded(seed);
    let x: Vec<f32> = (0..n * 8)
        .map(|k| if k % 8 == (k / 8) % 3 { 2.0 } else { 0.0 } + rng.random_range(-1.5f32..1.5))
        .collect();
    Dataset::from_f32(x, &[8], (0..n).map(|i| i % 3).collect(), 3).unwrap()
}

/// A fresh directory under the system's temporary one.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nn-control-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every parameter and buffer by name.
fn tensors(net: &mut dyn Layer) -> Vec<(String, Vec<u32>)> {
    let mut all = Vec::new();
    nn::for_each_param(net, |name, p| {
        all.push((name.to_string(), p.value.iter().map(|v| v.to_bits()).collect()))
    });
    nn::for_each_buffer(net, |name, b| {
        all.push((name.to_string(), b.iter().map(|v| v.to_bits()).collect()))
    });
    all
}

/// The tensors whose names start with `prefix`.
fn under(all: &[(String, Vec<u32>)], prefix: &str) -> Vec<(String, Vec<u32>)> {
    all.iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .cloned()
        .collect()
}

/// A user's callback, one short struct: the learning rate of the default group and of the first
/// parameter group at the start of each epoch.
struct LrLog(Rc<RefCell<Vec<(f32, f32)>>>);

impl Callback for LrLog {
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>) -> nn::Result<()> {
        let o = ctx.optimizer();
        self.0
            .borrow_mut()
            .push((o.learning_rate(), o.param_groups()[0].learning_rate()));
        Ok(())
    }
}

#[test]
fn a_user_callback_sees_every_group_s_rate_follow_the_schedule() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let optimizer = Adam::new(0.01).group(ParamGroup::prefix("head").lr(0.1));
    let mut trainer = Trainer::new(optimizer)
        .epochs(4)
        .batch_size(20)
        .schedule(LrSchedule::StepDecay { every: 2, gamma: 0.5 })
        .callback(LrLog(log.clone()))
        .silent();
    let history = trainer.fit(&mut Net::new(1), &blobs(60, 1), None).unwrap();
    assert_eq!(
        *log.borrow(),
        [(0.01, 0.1), (0.01, 0.1), (0.005, 0.05), (0.005, 0.05)]
    );
    let lrs: Vec<f32> = history.records().iter().map(|r| r.lr).collect();
    assert_eq!(lrs, [0.01, 0.01, 0.005, 0.005]);
}

#[test]
fn a_frozen_body_keeps_its_weights_and_statistics_and_computes_no_gradient() {
    let mut net = Net::new(2);
    let before = tensors(&mut net);
    let optimizer = Adam::new(0.01)
        .freeze("fc1")
        .freeze("bn1")
        .freeze("fc2")
        .freeze("bn2");
    let mut trainer = Trainer::new(optimizer)
        .epochs(2)
        .batch_size(20)
        .freeze_norm_stats(true)
        .silent();
    trainer.fit(&mut net, &blobs(60, 2), Some(&blobs(30, 3))).unwrap();
    let after = tensors(&mut net);
    for part in ["fc1.", "bn1.", "fc2.", "bn2."] {
        assert_eq!(under(&before, part), under(&after, part), "{part} changed");
    }
    assert_ne!(under(&before, "head."), under(&after, "head."));
    // The body's gradients were never computed: they are the zeros they were built with.
    nn::for_each_param(&mut net, |name, p| {
        let untouched = p.grad.iter().all(|&g| g == 0.0);
        assert_eq!(untouched, !name.starts_with("head."), "{name}");
    });
    // Without freeze_norm_stats, frozen BatchNorm still tracks batch statistics, as PyTorch's.
    let mut net = Net::new(2);
    let optimizer = Adam::new(0.01).freeze("fc1").freeze("bn1");
    let mut trainer = Trainer::new(optimizer).epochs(1).batch_size(20).silent();
    trainer.fit(&mut net, &blobs(60, 2), None).unwrap();
    let after = tensors(&mut net);
    assert_eq!(under(&before, "bn1.weight"), under(&after, "bn1.weight"));
    assert_ne!(
        under(&before, "bn1.running_mean"),
        under(&after, "bn1.running_mean")
    );
}

/// A residual block with a projection shortcut, by fields.
#[derive(Sequential)]
struct Block {
    fc: Linear,
    bn: BatchNorm,
    act: Relu,
    #[sequential(shortcut)]
    proj: Linear,
}

/// A network of branching blocks: a Residual around a single layer, a derived block with a
/// shortcut, and concatenated branches.
#[derive(Sequential)]
struct Branchy {
    stem: Linear,
    stem_res: Residual<Linear>,
    norm: Residual<BatchNorm>,
    block: Block,
    mixed: Concat<(Linear, Linear)>,
    head: Linear,
}

#[test]
fn freezing_reaches_the_layers_inside_residual_blocks_and_branches() {
    let mut rng = seeded(4);
    let mut net = Branchy {
        stem: Linear::new(8, 12, Init::He, &mut rng),
        stem_res: Residual(Linear::new(12, 12, Init::He, &mut rng)),
        norm: Residual(BatchNorm::new(12)),
        block: Block {
            fc: Linear::new(12, 10, Init::He, &mut rng),
            bn: BatchNorm::new(10),
            act: Relu::new(),
            proj: Linear::new(12, 10, Init::He, &mut rng),
        },
        mixed: Concat::new((
            Linear::new(10, 6, Init::He, &mut rng),
            Linear::new(10, 6, Init::He, &mut rng),
        )),
        head: Linear::new(12, 3, Init::He, &mut rng),
    };
    // Non-trivial running statistics, so that keeping them is not keeping the initial ones.
    net.forward(blobs(30, 9).to_tensor() * 2.0, Mode::Train);
    let before = tensors(&mut net);
    let frozen = ["stem", "stem_res", "norm", "block", "mixed.0"];
    let optimizer = frozen.iter().fold(Adam::new(0.01), |o, p| o.freeze(p));
    let mut trainer = Trainer::new(optimizer)
        .epochs(2)
        .batch_size(20)
        .freeze_norm_stats(true)
        .silent();
    trainer.fit(&mut net, &blobs(60, 2), None).unwrap();
    let after = tensors(&mut net);
    for part in frozen {
        let part = format!("{part}.");
        assert_eq!(under(&before, &part), under(&after, &part), "{part} changed");
    }
    for part in ["mixed.1.", "head."] {
        assert_ne!(under(&before, part), under(&after, part), "{part} did not train");
    }
    // No frozen gradient was computed, in a Residual's body, a shortcut or a branch.
    nn::for_each_param(&mut net, |name, p| {
        let untouched = p.grad.iter().all(|&g| g == 0.0);
        let trained = name.starts_with("mixed.1.") || name.starts_with("head.");
        assert_eq!(untouched, !trained, "{name}");
    });
    // The summary counts frozen parameters by layer, a block's and its shortcut's included, and
    // does not take `stem` for a prefix of `stem_res`.
    let optimizer = trainer.optimizer();
    let text = nn::summary::summary_frozen(&mut net, &[1, 8], &|n| optimizer.is_frozen(n)).to_string();
    for (row, params) in [
        ("stem ", " 108 frozen"),
        ("stem_res ", " 156 frozen"),
        ("block ", " 280 frozen"),
        ("  block.proj ", " 130 frozen"),
        ("mixed ", " 132 (66 frozen)"),
        ("head ", " 39"),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(row) && l.ends_with(params)),
            "{row}: {text}"
        );
    }
    assert!(
        text.ends_with("total parameters: 739 (trainable: 105, frozen: 634)"),
        "{text}"
    );
}

#[test]
fn summary_counts_trainable_and_frozen_parameters_apart() {
    let optimizer = Adam::new(0.01).freeze("fc1").freeze("bn1");
    let s = nn::summary::summary_frozen(&mut Net::new(1), &[1, 8], &|n| optimizer.is_frozen(n));
    // fc1: 8 * 16 + 16, bn1: 2 * 16; trained: fc2 16 * 12 + 12, bn2 2 * 12, head 12 * 3 + 3.
    assert_eq!(s.frozen_params, 176);
    assert_eq!(s.total_params, 176 + 204 + 24 + 39);
    let text = s.to_string();
    assert!(
        text.ends_with("total parameters: 443 (trainable: 267, frozen: 176)"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("fc1") && l.ends_with("144 frozen")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("fc2") && l.ends_with(" 204")),
        "{text}"
    );
}

#[test]
fn reduce_lr_on_plateau_lowers_every_group_s_rate_when_the_loss_stalls() {
    // Validation labels rotated by one class: the validation loss rises from the first epoch on.
    let train = blobs(90, 4);
    let v = blobs(30, 5);
    let rotated: Vec<usize> = v.labels().unwrap().iter().map(|&c| (c + 1) % 3).collect();
    let valid = Dataset::from_tensor(v.to_tensor(), rotated, 3).unwrap();
    let optimizer = Sgd::new(0.1).group(ParamGroup::prefix("head").lr(0.4));
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut trainer = Trainer::new(optimizer)
        .epochs(6)
        .batch_size(30)
        .callback(ReduceLROnPlateau::new("valid_loss").patience(1).factor(0.5))
        .callback(LrLog(log.clone()))
        .silent();
    trainer.fit(&mut Net::new(3), &train, Some(&valid)).unwrap();
    // Epoch 1 is best; 2 and 3 are bad, the second exceeds patience 1: epoch 4 trains at half.
    let log = log.borrow();
    assert_eq!(
        log[..4],
        [(0.1, 0.4), (0.1, 0.4), (0.1, 0.4), (0.05, 0.2)],
        "{log:?}"
    );
}

#[test]
fn a_callback_without_its_monitored_column_fails_before_anything_trains() {
    let mut net = Net::new(1);
    let before = tensors(&mut net);
    let mut trainer = Trainer::new(Adam::new(0.01))
        .callback(ModelCheckpoint::best("valid_acc", scratch("monitor")))
        .silent();
    let err = trainer.fit(&mut net, &blobs(30, 1), None).unwrap_err();
    assert!(
        matches!(err, Error::Train(TrainError::MonitorUnavailable { .. })),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "ModelCheckpoint monitors `valid_acc`, which this run does not record; it records \
         train_loss, train_acc, lr; the valid_ columns need a validation set: pass Some(&valid) to fit"
    );
    assert_eq!(before, tensors(&mut net));
}

/// Fails once epoch `n` is done, as a run killed then stops.
struct FailAfter(usize);

impl Callback for FailAfter {
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>) -> nn::Result<()> {
        match ctx.epoch() == self.0 + 1 {
            true => Err(Error::Train(TrainError::CallbackSetup {
                callback: "FailAfter".into(),
                message: "stopped on purpose".into(),
            })),
            false => Ok(()),
        }
    }
}

#[test]
fn checkpoints_and_the_csv_log_are_on_disk_as_training_goes() {
    let dir = scratch("files");
    let (train, valid) = (blobs(60, 6), blobs(30, 7));
    let mut net = Net::new(4);
    let mut trainer = Trainer::new(Adam::new(0.01))
        .epochs(4)
        .batch_size(20)
        .callback(CsvLogger::new(dir.join("history.csv")))
        .callback(ModelCheckpoint::best("valid_acc", dir.join("best")))
        .callback(ModelCheckpoint::every(2, dir.join("every2")))
        .callback(FailAfter(3))
        .silent();
    trainer.fit(&mut net, &train, Some(&valid)).unwrap_err();
    // The run failed as epoch 4 began; the log holds epochs 1 to 3, as the history does.
    let logged = History::load_csv(dir.join("history.csv")).unwrap();
    assert_eq!(logged.len(), 3);
    assert_eq!(
        std::fs::read_to_string(dir.join("history.csv")).unwrap(),
        trainer.history().to_csv()
    );
    // The best checkpoint holds the weights of the best epoch so far.
    let history = trainer.history().clone();
    let best = history
        .records()
        .iter()
        .fold(None::<&EpochRecord>, |b, r| match b {
            Some(b) if b.valid_metric("acc") >= r.valid_metric("acc") => Some(b),
            _ => Some(r),
        })
        .unwrap();
    let mut reloaded = Net::new(99);
    nn::load(&mut reloaded, dir.join("best").join(nn::train::MODEL_FILE)).unwrap();
    let acc = trainer.evaluate(&mut reloaded, &valid).unwrap().metric("acc");
    assert_eq!(acc, best.valid_metric("acc"), "{best:?}");
    assert!(dir.join("every2").join(nn::train::STATE_FILE).is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stops after the second batch of epoch 2.
struct StopMidEpoch;

impl Callback for StopMidEpoch {
    fn on_batch_end(&mut self, ctx: &mut Context<'_>, batch: usize, _: f32) -> nn::Result<()> {
        if ctx.epoch() == 2 && batch == 2 {
            ctx.stop("enough");
        }
        Ok(())
    }
}

#[test]
fn a_callback_can_stop_training_in_the_middle_of_an_epoch() {
    let mut trainer = Trainer::new(Adam::new(0.01))
        .epochs(5)
        .batch_size(10)
        .callback(StopMidEpoch)
        .silent();
    let history = trainer.fit(&mut Net::new(1), &blobs(60, 1), None).unwrap();
    assert_eq!(history.len(), 2);
}

/// `trainer` with callbacks of the resumable run's kinds at their defaults: a resume checks
/// their saved states against these.
fn with_callbacks<O: Optimizer>(trainer: Trainer<O>, dir: &Path) -> Trainer<O> {
    trainer
        .epochs(6)
        .batch_size(16)
        .seed(11)
        .callback(ReduceLROnPlateau::new("valid_loss"))
        .callback(ModelCheckpoint::every(1, dir.join("x")))
        .callback(ModelCheckpoint::best("valid_acc", dir.join("y")))
        .callback(EarlyStopping::new(10))
        .silent()
}

/// The trainer of the resumable run: every piece whose state must survive a restart.
fn resumable(epochs: usize, dir: &Path) -> Trainer<Adam> {
    let optimizer = Adam::new(0.02)
        .with_weight_decay(1e-4)
        .group(ParamGroup::prefix("head").lr(0.05))
        .freeze("bn1");
    Trainer::new(optimizer)
        .epochs(epochs)
        .batch_size(16)
        .seed(11)
        .schedule(LrSchedule::cosine(6))
        .callback(
            ReduceLROnPlateau::new("valid_loss")
                .patience(1)
                .cooldown(1)
                .factor(0.7),
        )
        .callback(ModelCheckpoint::every(1, dir.join("last")))
        .callback(ModelCheckpoint::best("valid_acc", dir.join("best")))
        // Restores epoch 1's weights at the end (the validation loss only rises): weights from
        // before the interruption, which the checkpoint keeps.
        .callback(EarlyStopping::new(10))
        .silent()
}

/// `n` samples whose labels are those of `blobs` rotated by one class: the better a network
/// fits `blobs`, the worse its loss here, which keeps ReduceLROnPlateau and early stopping busy.
fn rotated(n: usize, seed: u64) -> Dataset {
    let v = blobs(n, seed);
    let labels = v.labels().unwrap().iter().map(|&c| (c + 1) % 3).collect();
    Dataset::from_tensor(v.to_tensor(), labels, 3).unwrap()
}

/// `blobs` with augmentation: each feature of a training batch jittered by a draw seeded by the
/// epoch and the sample, as augmentation must be for a run to resume exactly.
struct Jittered(Dataset);

impl DataSource for Jittered {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn input_shape(&self) -> &[usize] {
        self.0.input_shape()
    }
    fn target_kind(&self) -> TargetKind<'_> {
        self.0.target_kind()
    }
    fn fill(&self, indices: &[usize], batch: &mut Batch, context: FillContext) -> nn::Result<()> {
        use nn::rand::{Rng as _, SeedableRng as _};
        self.0.fill(indices, batch, context)?;
        if context.training {
            let inputs = batch.inputs.as_slice_mut().expect("a filled batch is contiguous");
            for (row, &i) in inputs.chunks_exact_mut(8).zip(indices) {
                let mut rng = nn::StdRng::seed_from_u64(((context.epoch as u64) << 32) ^ i as u64);
                row.iter_mut().for_each(|v| *v += rng.random_range(-0.3..0.3));
            }
        }
        Ok(())
    }
}

#[test]
fn a_resumed_run_ends_with_the_bits_of_an_uninterrupted_one() {
    let (train, valid) = (Jittered(blobs(100, 8)), rotated(40, 9));
    // Six epochs straight.
    let straight_dir = scratch("straight");
    let mut straight = Net::new(5);
    let full = resumable(6, &straight_dir)
        .fit(&mut straight, &train, Some(&valid))
        .unwrap();
    // Two epochs, then everything built afresh and resumed from the last checkpoint.
    let dir = scratch("resumed");
    resumable(2, &dir)
        .fit(&mut Net::new(5), &train, Some(&valid))
        .unwrap();
    // Built as the first run built it (the dropout's seed is part of that), then resumed.
    let mut resumed = Net::new(5);
    let mut trainer = resumable(6, &dir);
    trainer.resume(&mut resumed, dir.join("last")).unwrap();
    let rest = trainer.fit(&mut resumed, &train, Some(&valid)).unwrap();
    // The last epoch's weights (the checkpoint written after it), the weights early stopping
    // restored at the end (epoch 1's: the validation loss only rises), the whole history.
    let last = |d: &Path| std::fs::read(d.join("last").join(nn::train::MODEL_FILE)).unwrap();
    assert!(last(&dir) == last(&straight_dir), "epoch 6's weights differ");
    assert_eq!(tensors(&mut resumed), tensors(&mut straight));
    assert_eq!(metrics(&rest), metrics(&full));
    assert_eq!(rest.best_epoch(), Some(1));
    // ReduceLROnPlateau lowered the rates after the interruption (its state carried over).
    let scheduled = |epoch: usize| LrSchedule::cosine(6).lr_at(0.02, epoch - 1);
    assert!(
        full.records()[2..]
            .iter()
            .any(|r| r.lr < scheduled(r.epoch) * 0.99),
        "{full:?}"
    );
    std::fs::remove_dir_all(&straight_dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resuming_with_another_network_optimizer_or_layout_is_refused_and_changes_nothing() {
    let dir = scratch("refuse");
    let train = blobs(60, 10);
    let valid = blobs(30, 11);
    resumable(2, &dir)
        .fit(&mut Net::new(5), &train, Some(&valid))
        .unwrap();
    let last = dir.join("last");

    // Another network: the weights do not load.
    let mut other = Mlp::builder(8, &[16], 3).build(&mut seeded(1));
    let before = tensors(&mut other);
    let mut trainer = resumable(6, &dir);
    let err = trainer.resume(&mut other, &last).unwrap_err().to_string();
    assert!(err.contains("does not fit the model"), "{err}");
    assert_eq!(before, tensors(&mut other));

    // Another algorithm.
    let mut net = Net::new(3);
    let before = tensors(&mut net);
    let mut sgd = with_callbacks(
        Trainer::new(Sgd::new(0.1).group(ParamGroup::prefix("head")).freeze("bn1")),
        &dir,
    );
    let err = sgd.resume(&mut net, &last).unwrap_err().to_string();
    assert!(
        err.starts_with("optimizer state was saved by Adam, cannot restore it into Sgd"),
        "{err}"
    );
    assert_eq!(before, tensors(&mut net));

    // Another group layout: bn2 frozen instead of bn1.
    let optimizer = Adam::new(0.02)
        .group(ParamGroup::prefix("head").lr(0.05))
        .freeze("bn2");
    let mut layout = with_callbacks(Trainer::new(optimizer), &dir);
    let optimizer_before = layout.optimizer().state();
    let err = layout.resume(&mut net, &last).unwrap_err().to_string();
    assert!(
        err.starts_with("the optimizer state was saved with parameter groups [`head` (prefix:head), `bn1` (prefix:bn1, frozen)], but this optimizer has [`head` (prefix:head), `bn2` (prefix:bn2, frozen)]"),
        "{err}"
    );
    assert_eq!(before, tensors(&mut net));
    assert_eq!(optimizer_before, layout.optimizer().state());

    // Other callbacks, another batch size.
    let err = Trainer::new(Adam::new(0.02).group(ParamGroup::prefix("head")).freeze("bn1"))
        .epochs(6)
        .batch_size(16)
        .seed(11)
        .silent()
        .resume(&mut net, &last)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the run had the callbacks [\"ReduceLROnPlateau\""),
        "{err}"
    );
    let mut other_batch = resumable(6, &dir).batch_size(32);
    let err = other_batch.resume(&mut net, &last).unwrap_err().to_string();
    assert!(
        err.contains("trained with batch_size 16, this trainer has 32"),
        "{err}"
    );
    assert_eq!(before, tensors(&mut net));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_whose_files_come_from_different_epochs_is_refused() {
    let dir = scratch("torn");
    resumable(3, &dir)
        .fit(&mut Net::new(5), &blobs(60, 12), Some(&blobs(30, 13)))
        .unwrap();
    // As if a save was interrupted between the two files: weights of another epoch (here, of
    // an untrained network) beside the training state.
    nn::save(&mut Net::new(123), dir.join("last").join(nn::train::MODEL_FILE)).unwrap();
    let mut net = Net::new(1);
    let before = Snapshot::capture(&mut net);
    let err = resumable(6, &dir)
        .resume(&mut net, dir.join("last"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not hold the weights training.json was saved with"),
        "{err}"
    );
    assert_eq!(
        before.get("head.weight"),
        Snapshot::capture(&mut net).get("head.weight")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
