//! The examples' shared clap flags (examples/common/flags.rs, data.rs, compare.rs), composed here
//! as the examples compose them and parsed with `try_parse_from`: examples have no test harness.

use crate::common;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use common::compare::CompareFlags;
use common::flags::{BenchFlags, LrFlag, ModelFlags, OptimFlags, OutFlag, TrainFlags, WorkloadFlags};
use common::{DataFlags, DataSource};
use std::path::{Path, PathBuf};

/// The flags of mlp_batchnorm.
#[derive(Parser, Debug)]
#[command(name = "train", version)]
#[command(mut_arg("out", |a| a.default_value("out/train")))]
struct Train {
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    optim: OptimFlags,
    #[command(flatten)]
    data: DataFlags,
    #[command(flatten)]
    out: OutFlag,
}

/// The flags of batchnorm_compare and weight_init_compare.
#[derive(Parser, Debug)]
#[command(name = "compare", version)]
#[command(mut_arg("lr", |a| a.default_value("0.1")))]
struct Compare {
    #[command(flatten)]
    flags: CompareFlags,
    #[command(flatten)]
    lr: LrFlag,
}

/// The flags of predict: a checkpoint and pictures.
#[derive(Parser, Debug)]
#[command(name = "predict", version)]
struct Predict {
    #[command(flatten)]
    model: ModelFlags,
    #[arg(value_name = "IMAGE.png", required = true)]
    images: Vec<PathBuf>,
}

/// The flags of evaluate: a checkpoint, the test set's source and an output folder.
#[derive(Parser, Debug)]
#[command(name = "evaluate", version)]
#[command(mut_arg("out", |a| a.default_value("out/evaluate")))]
struct Evaluate {
    #[command(flatten)]
    model: ModelFlags,
    #[command(flatten)]
    data: DataSource,
    #[command(flatten)]
    out: OutFlag,
}

/// The flags of bench_mlp and bench_cnn.
#[derive(Parser, Debug)]
#[command(name = "bench", version)]
struct Bench {
    #[command(flatten)]
    bench: BenchFlags,
}

/// The flags of sgemm_rate, less its own --rounds.
#[derive(Parser, Debug)]
#[command(name = "sgemm", version)]
struct Workload {
    #[command(flatten)]
    workload: WorkloadFlags,
}

fn parse<P: Parser>(args: &[&str]) -> Result<P, clap::Error> {
    P::try_parse_from(std::iter::once("prog").chain(args.iter().copied()))
}

fn error<P: Parser + std::fmt::Debug>(args: &[&str]) -> clap::Error {
    parse::<P>(args).expect_err(&args.join(" "))
}

/// The error's first line, which must say everything: what is wrong with which flag.
fn first_line(e: &clap::Error) -> String {
    e.render().to_string().lines().next().unwrap_or("").to_string()
}

#[test]
fn the_definitions_pass_clap_s_own_checks() {
    // Duplicate ids or longs between flattened structs, or a mut_arg naming no flag, panic here.
    Train::command().debug_assert();
    Compare::command().debug_assert();
    Bench::command().debug_assert();
    Workload::command().debug_assert();
    Predict::command().debug_assert();
    Evaluate::command().debug_assert();
}

#[test]
fn defaults_are_the_ones_the_examples_always_had() {
    let t: Train = parse(&[]).unwrap();
    assert_eq!(
        (t.train.epochs, t.train.batch_size, t.train.seed, t.train.threads),
        (20, 100, 4321, None)
    );
    assert_eq!(t.optim.optimizer, "adam");
    assert_eq!(t.optim.lr.lr, None);
    assert_eq!(t.optim.lr.or(0.5), 0.5);
    assert_eq!(t.optim.schedule, "cosine");
    assert_eq!((t.optim.weight_decay, t.optim.patience), (0.0, 0));
    assert_eq!(t.data.source.dataset, "mnist");
    assert_eq!((t.data.source.data_dir, t.data.source.cache_dir), (None, None));
    // 1/6 exactly as before: 8,000 training images give the 1,333-image validation split.
    assert_eq!(t.data.valid_fraction.value(), 1.0 / 6.0);
    assert_eq!(t.data.valid_fraction.of(8000), 1333);
    assert_eq!(t.out.dir, Path::new("out/train"));

    let c: Compare = parse(&[]).unwrap();
    assert_eq!(
        (c.flags.train.epochs, c.flags.train.batch_size, c.flags.train.seed),
        (5, 100, 4321)
    );
    assert_eq!(c.lr.get(), 0.1);
    assert_eq!(c.flags.out.dir, Path::new("out"));

    let b = parse::<Bench>(&[]).unwrap().bench;
    let w = &b.workload;
    assert_eq!((w.threads, w.batch_size, w.samples), (2, 100, 50_000));
    assert_eq!((b.epochs, b.infer_samples), (5, 10_000));
    assert_eq!((b.data_dir, b.profile), (None, false));
    let w = parse::<Workload>(&[]).unwrap().workload;
    assert_eq!((w.threads, w.batch_size, w.samples), (2, 100, 50_000));
}

#[test]
fn profile_is_a_switch_that_also_takes_true_or_false() {
    for (args, on) in [
        (&["--profile"][..], true),
        (&["--profile", "true"], true),
        (&["--profile=false"], false),
        (&["--profile", "--epochs", "1"], true),
    ] {
        assert_eq!(parse::<Bench>(args).unwrap().bench.profile, on, "{args:?}");
    }
    let e = error::<Bench>(&["--profile", "maybe"]);
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn given_values_reach_the_fields() {
    let t: Train = parse(&[
        "--epochs=2",
        "--batch-size",
        "1",
        "--seed",
        "7",
        "--optimizer",
        "sgd",
        "--lr",
        "1e-3",
        "--schedule",
        "step",
        "--weight-decay",
        "0",
        "--patience",
        "3",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        "d",
        "--cache-dir",
        "c",
        "--valid-fraction",
        "1/5",
        "--out",
        "o",
    ])
    .unwrap();
    assert_eq!((t.train.epochs, t.train.batch_size, t.train.seed), (2, 1, 7));
    assert_eq!(
        (
            t.optim.optimizer.as_str(),
            t.optim.lr.lr,
            t.optim.schedule.as_str()
        ),
        ("sgd", Some(1e-3), "step")
    );
    assert_eq!((t.optim.weight_decay, t.optim.patience), (0.0, 3));
    assert_eq!(t.data.source.dataset, "fashion-mnist");
    assert_eq!(t.data.source.data_dir.as_deref(), Some(Path::new("d")));
    assert_eq!(t.data.source.cache_dir.as_deref(), Some(Path::new("c")));
    assert_eq!(t.data.valid_fraction.to_string(), "1/5");
    assert_eq!(t.out.dir, Path::new("o"));
    for fraction in ["0", "0.999", "0.2"] {
        let t: Train = parse(&["--valid-fraction", fraction]).unwrap();
        assert_eq!(t.data.valid_fraction.to_string(), fraction);
    }
}

#[test]
fn a_repeated_flag_is_a_usage_error() {
    for args in [
        ["--epochs", "3", "--epochs", "4"],
        ["--lr", "0.1", "--lr", "0.2"],
        ["--dataset", "mnist", "--dataset", "mnist"],
    ] {
        let e = error::<Train>(&args);
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        assert_eq!(e.exit_code(), 2);
        let line = first_line(&e);
        assert!(
            line.starts_with(&format!("error: the argument '{} <", args[0]))
                && line.ends_with("cannot be used multiple times"),
            "{line}"
        );
    }
}

#[test]
fn values_out_of_range_are_one_line_usage_errors() {
    let cases: &[(&str, &[&str], &str)] = &[
        // These values used to reach the optimizers, which panic on them.
        (
            "--lr",
            &["0", "-0.1", "nan", "inf", "-inf", "abc"],
            "expected a number above 0",
        ),
        (
            "--weight-decay",
            &["-1", "NaN", "-inf", "inf"],
            "expected a number of at least 0",
        ),
        (
            "--batch-size",
            &["0", "-1", "1.5"],
            "expected a whole number of at least 1",
        ),
        (
            "--valid-fraction",
            &["1", "1/1", "7/6", "-0.1"],
            "must be at least 0 and below 1",
        ),
        ("--valid-fraction", &["half"], "expected a fraction"),
        ("--epochs", &["-1", "x"], "invalid digit"),
    ];
    for &(flag, values, reason) in cases {
        for &value in values {
            let e = error::<Train>(&[flag, value]);
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{flag} {value}");
            assert_eq!(e.exit_code(), 2);
            let line = first_line(&e);
            assert!(
                line.starts_with(&format!("error: invalid value '{value}' for '{flag} <"))
                    && line.contains(reason),
                "{line}"
            );
        }
    }
    for (flag, value) in [
        ("--optimizer", "adam2"),
        ("--schedule", "linear"),
        ("--dataset", "cifar"),
    ] {
        let e = error::<Train>(&[flag, value]);
        assert_eq!(e.kind(), ErrorKind::InvalidValue, "{flag} {value}");
        assert_eq!(e.exit_code(), 2);
    }
    for flag in [
        "--epochs",
        "--threads",
        "--batch-size",
        "--samples",
        "--infer-samples",
    ] {
        let e = error::<Bench>(&[flag, "0"]);
        assert_eq!(e.kind(), ErrorKind::ValueValidation, "{flag}");
        assert!(first_line(&e).contains("at least 1"), "{e}");
    }
    let e = error::<Compare>(&["--lr", "0"]);
    assert!(first_line(&e).contains("expected a number above 0"));
}

#[test]
fn threads_is_a_count_of_at_least_one() {
    let t: Train = parse(&["--threads", "1"]).unwrap();
    assert_eq!(t.train.threads, Some(1));
    let e = error::<Train>(&["--threads", "0"]);
    assert_eq!(e.kind(), ErrorKind::ValueValidation);
    assert!(first_line(&e).contains("at least 1"), "{e}");
}

#[test]
fn a_flag_without_its_value_is_a_usage_error() {
    let e = error::<Train>(&["--lr"]);
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert_eq!(e.exit_code(), 2);
    assert!(first_line(&e).contains("a value is required for '--lr <F>'"));
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    for args in [&["--bogus", "1"][..], &["extra"], &["--samples", "2"]] {
        let e = error::<Train>(args);
        assert_eq!(e.kind(), ErrorKind::UnknownArgument, "{args:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(
            first_line(&e).contains(&format!("unexpected argument '{}'", args[0])),
            "{e}"
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let e = error::<Train>(&["--version"]);
    assert_eq!(e.kind(), ErrorKind::DisplayVersion);
    assert_eq!(e.exit_code(), 0);
    assert_eq!(
        e.render().to_string(),
        format!("train {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_every_flag_with_its_default() {
    for mut command in [
        Train::command(),
        Compare::command(),
        Bench::command(),
        Predict::command(),
        Evaluate::command(),
    ] {
        let help = command.render_help().to_string();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue; // predict's pictures: not a flag
            };
            let line = help
                .lines()
                .map(|l| {
                    l.trim_start()
                        .trim_start_matches("-h, ")
                        .trim_start_matches("-V, ")
                })
                .find(|l| l.starts_with(&format!("--{long} ")))
                .unwrap_or_else(|| panic!("--{long} is missing from\n{help}"));
            if let Some(default) = arg.get_default_values().first() {
                let shown = format!("[default: {}]", default.to_string_lossy());
                assert!(line.contains(&shown), "{line}");
            }
        }
    }
    let help = Train::command().render_help().to_string();
    for shown in [
        "[default: 20]",
        "[default: 1/6]",
        "[default: adam]",
        "[default: out/train]",
    ] {
        assert!(help.contains(shown), "{shown} in\n{help}");
    }
}

#[test]
fn patience_needs_a_validation_split() {
    let t: Train = parse(&["--patience", "3", "--valid-fraction", "0"]).unwrap();
    let e = t
        .optim
        .check_patience::<Train>(t.data.valid_fraction.value())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        first_line(&e),
        "error: --patience: early stopping watches the validation loss; give --valid-fraction above 0"
    );
    for args in [
        &["--patience", "3", "--valid-fraction", "0.1"][..],
        &["--patience", "0", "--valid-fraction", "0"],
    ] {
        let t: Train = parse(args).unwrap();
        assert!(t
            .optim
            .check_patience::<Train>(t.data.valid_fraction.value())
            .is_ok());
    }
}

#[test]
fn arguments_that_are_not_flags_are_errors_unless_the_program_takes_them() {
    let p: Predict = parse(&["--model", "m.safetensors", "a.png", "b.png"]).unwrap();
    assert_eq!(p.model.model, Path::new("m.safetensors"));
    assert_eq!(p.model.arch, "mlp");
    assert_eq!(p.images, [Path::new("a.png"), Path::new("b.png")]);
    for args in [&["--model", "m.safetensors"][..], &["a.png"]] {
        let e = error::<Predict>(args);
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument, "{args:?}");
        assert_eq!(e.exit_code(), 2);
    }
    let e = error::<Train>(&["--epochs", "3", "stray"]);
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    assert!(first_line(&e).contains("unexpected argument 'stray'"), "{e}");
}

#[test]
fn evaluate_takes_the_data_source_without_a_validation_split() {
    let e: Evaluate = parse(&["--model", "m", "--dataset", "fashion-mnist"]).unwrap();
    assert_eq!(e.data.dataset, "fashion-mnist");
    assert_eq!(e.out.dir, Path::new("out/evaluate"));
    let e = error::<Evaluate>(&["--model", "m", "--valid-fraction", "0.1"]);
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
}
