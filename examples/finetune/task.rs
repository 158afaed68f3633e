//! The fine-tuning task and its stages, apart from the program's flags and printing, so that
//! tests/finetune.rs runs them too.
//!
//! The task (by default): MNIST digits turned a quarter turn and labelled by parity, even or odd.
//! A new label set needs a new head; the parity of a digit is a function of which digit it is,
//! which a network trained on upright digits has learned to tell, but from strokes that turning
//! changes. So the frozen body's features carry over only in part: the head alone learns the task
//! to some degree, and adapting the body at a lower rate does better. `--style` and `--labels`
//! choose other tasks of the same kind (upright or inverted digits; the digit itself).

use crate::common::nets::Cnn;
use nn::prelude::*;
use std::path::PathBuf;

/// Inputs of the CNN's last Linear: 128 channels of 3 x 3.
pub const FEATURES: usize = 128 * 3 * 3;

/// Side of an MNIST image.
const SIDE: usize = 28;

/// How the new task's digits are drawn: as they are, turned a quarter turn clockwise, or with
/// ink and paper swapped (white digits on black become black on white).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    Upright,
    Turned,
    Inverted,
}

/// What the new task's labels say: the digit's parity (class 0 even, 1 odd), or the digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Labels {
    Parity,
    Digit,
}

impl Labels {
    /// How many classes the head tells apart.
    pub fn classes(self) -> usize {
        match self {
            Labels::Parity => 2,
            Labels::Digit => 10,
        }
    }
}

/// The first `count` (at most) of `digits` (MNIST images, ten classes) drawn in `style`, as
/// `[1, 28, 28]` images labelled as `labels` says.
pub fn samples(digits: &Dataset, count: usize, style: Style, labels: Labels) -> nn::Result<Dataset> {
    let n = count.min(digits.len());
    let x = digits.to_tensor();
    let x = x.as_standard_layout();
    let flat = x.as_slice().expect("standard layout");
    let digit = digits.labels().expect("MNIST has class labels");
    let mut pixels = Vec::with_capacity(n * SIDE * SIDE);
    for image in flat.chunks_exact(SIDE * SIDE).take(n) {
        match style {
            Style::Upright => pixels.extend_from_slice(image),
            Style::Inverted => pixels.extend(image.iter().map(|&v| 1.0 - v)),
            // Turned clockwise: row r of the result is column r of the image, read bottom to top.
            Style::Turned => {
                for r in 0..SIDE {
                    for c in 0..SIDE {
                        pixels.push(image[(SIDE - 1 - c) * SIDE + r]);
                    }
                }
            }
        }
    }
    let classes = labels.classes();
    let targets = digit[..n].iter().map(|d| d % classes).collect();
    Dataset::from_f32(pixels, &[1, SIDE, SIDE], targets, classes)
}

/// Replaces `net`'s last Linear with a new head from the same features to `classes` outputs,
/// its weights drawn from `rng`.
pub fn new_head(net: &mut Cnn, classes: usize, rng: &mut StdRng) {
    net.fc = Linear::new(FEATURES, classes, Init::He, rng);
}

/// Whether the parameter called `name` belongs to the body (everything but the head `fc`).
pub fn in_body(name: &str) -> bool {
    !name.starts_with("fc.")
}

/// How one stage trains: epochs, batch size, seed, and where its history goes line by line.
pub struct Stage {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub log: Option<PathBuf>,
}

impl Stage {
    /// A silent trainer for `optimizer` with this stage's settings and CSV log.
    fn trainer<O: Optimizer>(&self, optimizer: O) -> Trainer<O> {
        let trainer = Trainer::new(optimizer)
            .epochs(self.epochs)
            .batch_size(self.batch_size)
            .seed(self.seed)
            .verbosity(Verbosity::Lines);
        match &self.log {
            Some(path) => trainer.callback(CsvLogger::new(path)),
            None => trainer,
        }
    }
}

/// Stage 1: the head alone, at `lr`, on a frozen body whose BatchNorm layers keep their running
/// statistics (the body computes no gradient at all).
pub fn train_head(
    net: &mut Cnn,
    stage: &Stage,
    lr: f32,
    train: &Dataset,
    valid: &Dataset,
) -> nn::Result<Trainer<Adam>> {
    let optimizer = Adam::new(lr).freeze_where("body", in_body);
    let mut trainer = stage.trainer(optimizer).freeze_norm_stats(true);
    trainer.fit(net, train, Some(valid))?;
    Ok(trainer)
}

/// Stage 2: everything, with a parameter group per part: the body at `body_lr`, the head at
/// `head_lr`, both annealed by a cosine schedule.
pub fn train_all(
    net: &mut Cnn,
    stage: &Stage,
    (body_lr, head_lr): (f32, f32),
    train: &Dataset,
    valid: &Dataset,
) -> nn::Result<Trainer<Adam>> {
    let optimizer = Adam::new(head_lr)
        .group(ParamGroup::matching("body", in_body).lr(body_lr))
        .group(ParamGroup::prefix("fc").lr(head_lr));
    let mut trainer = stage
        .trainer(optimizer)
        .schedule(LrSchedule::cosine(stage.epochs))
        .callback(RatesLine);
    trainer.fit(net, train, Some(valid))?;
    Ok(trainer)
}

/// Prints each group's rate as an epoch starts: the schedule scales every group.
struct RatesLine;

impl Callback for RatesLine {
    fn on_epoch_begin(&mut self, ctx: &mut Context<'_>) -> nn::Result<()> {
        let groups: Vec<String> = ctx
            .optimizer()
            .param_groups()
            .iter()
            .map(|g| format!("{}={:.2e}", g.name(), g.learning_rate()))
            .collect();
        ctx.note(&format!("epoch {} rates: {}", ctx.epoch(), groups.join(" ")));
        Ok(())
    }
}

/// The same network trained from scratch on the same set: fresh weights, a two-way head, `lr`
/// with the cosine schedule for `stage.epochs`.
pub fn train_scratch(
    seed: u64,
    classes: usize,
    stage: &Stage,
    lr: f32,
    train: &Dataset,
    valid: &Dataset,
) -> nn::Result<(Cnn, Trainer<Adam>)> {
    let mut rng = seeded(seed);
    let mut net = Cnn::new(&mut rng);
    new_head(&mut net, classes, &mut rng);
    let mut trainer = stage
        .trainer(Adam::new(lr))
        .schedule(LrSchedule::cosine(stage.epochs));
    trainer.fit(&mut net, train, Some(valid))?;
    Ok((net, trainer))
}
