//! The training run of mlp_batchnorm and cnn_mnist: their flags, and training a network with a
//! held-out validation split, evaluating it on the test set and writing its files.

use super::flags::{OnnxFlag, OptimFlags, OutFlag, TrainFlags};
use super::DataFlags;
use clap::{Args, CommandFactory};
use nn::checkpoint::Metadata;
use nn::data::Transformed;
use nn::prelude::*;
use nn::vision::{Compose, RandomAffine, Transform};
use nn::Optimizer;
use std::path::{Path, PathBuf};

/// The flags of a training run: how long, which optimizer, which data and where to write.
#[derive(Args, Clone, Debug)]
pub struct RunFlags {
    #[command(flatten)]
    pub train: TrainFlags,
    #[command(flatten)]
    pub optim: OptimFlags,
    #[command(flatten)]
    pub data: DataFlags,
    #[command(flatten)]
    pub out: OutFlag,
    #[command(flatten)]
    pub onnx: OnnxFlag,
}

/// What an example trains: its network and the defaults that suit it.
pub struct Job<N> {
    /// The network, from the seeded generator.
    pub new_net: fn(&mut StdRng) -> N,
    /// One sample's shape as the network takes it (`[784]`, or `[1, 28, 28]` for images).
    pub sample_shape: &'static [usize],
    /// The learning rate used without `--lr`, per optimizer name.
    pub default_lr: fn(&str) -> f32,
    /// Augmentations of the training images (`[C, H, W]` samples), drawn from the run's seed.
    pub augment: Option<Compose>,
}

/// The digits' augmentation (cnn_mnist's and bench_cnn's `--augment`, resnet_mnist's default):
/// shifts of up to 10 % of the side, rotations of up to 10° and zoom between 0.9 and 1.1, as one
/// bilinear warp (the recipe of Deotte's 99.65 % Kaggle study of small MNIST CNNs). No flip: a
/// mirrored digit is another symbol or none.
pub fn digit_augmentation() -> Compose {
    Compose::new().then(
        RandomAffine::new()
            .degrees(10.0)
            .translate(0.1, 0.1)
            .scale(0.9, 1.1),
    )
}

/// The whole of an example's `main`: checks the flags as a usage error of the command `C`,
/// trains, and prints `test_accuracy=<fraction>` last, or the error with exit code 1.
pub fn main<C: CommandFactory, N: Layer>(flags: &RunFlags, job: Job<N>) {
    if let Err(e) = flags.optim.check_patience::<C>(flags.data.valid_fraction.value()) {
        e.exit();
    }
    report(run(flags, job));
}

/// The end of an example's `main`: prints `test_accuracy=<fraction>` last (the line scripts
/// read), or the error and exits with code 1.
pub fn report<E: std::fmt::Display>(result: Result<impl Into<f64>, E>) {
    match result {
        Ok(accuracy) => println!("test_accuracy={:.4}", accuracy.into()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Trains `job`'s network as `flags` say, writes `history.csv`, `curves.png`,
/// `model.safetensors` and `optimizer.json` into `--out` (and the ONNX model to `--onnx`), and
/// returns the test accuracy.
pub fn run<N: Layer>(flags: &RunFlags, job: Job<N>) -> nn::Result<f32> {
    let (t, o, out) = (&flags.train, &flags.optim, &flags.out.dir);
    let lr = o.lr.or((job.default_lr)(&o.optimizer));
    // Now, not after training: a bad --out must not cost the run.
    nn::fsutil::prepare_output_dir(out)?;
    flags.onnx.prepare()?;
    let mut net = (job.new_net)(&mut seeded(t.seed));
    println!(
        "{}",
        nn::summary(&mut net, &[[1].as_slice(), job.sample_shape].concat())
    );

    let data = super::load_data(&flags.data, t.seed)?;
    let samples = |d: Dataset| d.with_feature_shape(job.sample_shape);
    let data = super::Data {
        name: data.name,
        train: samples(data.train)?,
        valid: samples(data.valid)?,
        test: samples(data.test)?,
    };
    println!(
        "{}: {} training, {} validation, {} test images",
        data.name,
        data.train.len(),
        data.valid.len(),
        data.test.len()
    );
    println!(
        "{} lr={} batch_size={} epochs={} seed={}",
        o.optimizer, lr, t.batch_size, t.epochs, t.seed
    );

    let augmented;
    let train: &dyn DataSource = match job.augment {
        Some(augment) => {
            println!("augment: {}", augment.describe());
            augmented = Transformed::new(&data.train)?.augment(augment)?.seed(t.seed);
            &augmented
        }
        None => &data.train,
    };

    let mut trainer = trainer(t, o, lr);
    let history = fit(&mut trainer, &mut net, train, data.valid(), out)?;
    let test = trainer.evaluate(&mut net, &data.test)?;
    save_run(out, &history, &mut net, &trainer)?;
    flags.onnx.export(&mut net, job.sample_shape)?;
    println!("test_loss={:.4}", test.loss);
    Ok(test.metric("acc").expect("a classifier records accuracy"))
}

/// The trainer the flags describe: the optimizer with its rate and weight decay, epochs, batch
/// size, seed, schedule and early stopping; softmax cross-entropy until `.loss(...)` says
/// otherwise. Sets nn's thread count to `--threads`, when given.
pub fn trainer(t: &TrainFlags, o: &OptimFlags, lr: f32) -> Trainer<Box<dyn Optimizer>> {
    t.apply_threads();
    let mut opt = super::optimizer(&o.optimizer, lr);
    opt.set_weight_decay(o.weight_decay);
    let mut trainer = Trainer::new(opt)
        .epochs(t.epochs)
        .batch_size(t.batch_size)
        .seed(t.seed)
        .schedule(match o.schedule.as_str() {
            "cosine" => LrSchedule::cosine(t.epochs),
            "step" => LrSchedule::StepDecay {
                every: t.epochs.div_ceil(3).max(1),
                gamma: 0.1,
            },
            _ => LrSchedule::Constant,
        });
    if o.patience > 0 {
        trainer = trainer.early_stopping(EarlyStopping::new(o.patience));
    }
    trainer
}

/// `trainer.fit`, keeping the curve up to a failure (a diverging loss) in `<out>/history.csv`:
/// it shows how the run went.
pub fn fit<L: Loss>(
    trainer: &mut Trainer<Box<dyn Optimizer>, L>,
    net: &mut dyn Layer,
    train: &dyn DataSource,
    valid: Option<&dyn DataSource>,
    out: &Path,
) -> nn::Result<History> {
    trainer.fit(net, train, valid).inspect_err(|_| {
        let path = out.join("history.csv");
        if !trainer.history().is_empty() && trainer.history().save_csv(&path).is_ok() {
            eprintln!("wrote {} (the epochs before the failure)", path.display());
        }
    })
}

/// Writes a run's `history.csv`, `curves.png`, `model.safetensors` and `optimizer.json` into
/// `out`, and says so.
pub fn save_run<L: Loss>(
    out: &Path,
    history: &History,
    net: &mut dyn Layer,
    trainer: &Trainer<Box<dyn Optimizer>, L>,
) -> nn::Result<()> {
    save_run_with(out, history, net, trainer, &Metadata::new())
}

/// [`save_run`], with `metadata` in the checkpoint (an image-folder model's class names).
pub fn save_run_with<L: Loss>(
    out: &Path,
    history: &History,
    net: &mut dyn Layer,
    trainer: &Trainer<Box<dyn Optimizer>, L>,
    metadata: &Metadata,
) -> nn::Result<()> {
    let path = |name: &str| -> PathBuf { out.join(name) };
    let files = [
        path("history.csv"),
        path("curves.png"),
        path("model.safetensors"),
        path("optimizer.json"),
    ];
    history.save_csv(&files[0])?;
    history.plot(&files[1])?;
    nn::checkpoint::save_with_metadata(net, &files[2], metadata)?;
    trainer.optimizer().state().save_json(&files[3])?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
