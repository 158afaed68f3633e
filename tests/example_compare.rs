//! The comparison examples' shared driver (examples/common/compare.rs), compiled here so that
//! `cargo test` runs it: examples themselves have no test harness.

use crate::common;

use common::compare::{report, run_all, CompareFlags, Run};
use common::flags::{OutFlag, TrainFlags};
use common::{Data, DataFlags, DataSource};
use nn::prelude::*;

/// 60 samples of 4 features in 3 classes.
fn data(offset: usize) -> Dataset {
    let x = Tensor::from_shape_fn(vec![60, 4], |i| {
        (((i[0] + offset) * 7 + i[1] * 3) % 11) as f32 / 11.0
    });
    Dataset::from_tensor(x, (0..60).map(|i| (i + offset) % 3).collect(), 3).unwrap()
}

fn run(name: &str, lr: f32) -> Run {
    Run {
        name: name.to_string(),
        build: Box::new(|rng: &mut StdRng| -> Box<dyn Layer> { Box::new(Linear::new(4, 3, Init::He, rng)) }),
        optimizer: Box::new(Sgd::new(lr)),
    }
}

#[test]
fn a_diverging_run_is_reported_and_the_other_runs_are_kept() {
    let out = std::env::temp_dir().join(format!("nn-test-compare-{}", std::process::id()));
    let flags = CompareFlags {
        data: DataFlags {
            source: DataSource {
                dataset: "mnist".into(),
                data_dir: None,
                cache_dir: None,
            },
            valid_fraction: "0".parse().unwrap(),
        },
        train: TrainFlags {
            epochs: 3,
            batch_size: 10,
            seed: 1,
            threads: None,
        },
        out: OutFlag { dir: out.clone() },
    };
    let data = Data {
        name: "synthetic",
        train: data(0),
        valid: data(1),
        test: data(2),
    };
    let runs = vec![
        run("stable", 0.1),
        run("diverging", f32::MAX),
        run("stable again", 0.05),
    ];
    let outcomes = run_all(runs, &data, &flags).unwrap();
    let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["stable", "diverging", "stable again"]);
    assert_eq!(outcomes[0].history.len(), 3);
    assert!(outcomes[1].history.is_empty());
    assert_eq!(outcomes[2].history.len(), 3);
    std::fs::create_dir_all(&out).unwrap();
    let reported = report(&outcomes, &flags, "runs.png", "runs");
    let csvs = ["stable.csv", "diverging.csv", "stable_again.csv", "runs.png"].map(|f| out.join(f).is_file());
    std::fs::remove_dir_all(&out).unwrap();
    reported.unwrap();
    assert_eq!(csvs, [true; 4]);
}
