//! The integration tests, written as a user would write code, in one test binary: each file in
//! this directory is a module here. One binary links once instead of once per file and compiles
//! the code the files share once (docs/DESIGN.md, "Tests"). `mnist_smoke.rs`, which needs real
//! MNIST and a release build, is a test target of its own (Cargo.toml).
//!
//! `autotests` is off, so a new file here runs only once it is listed below;
//! `every_test_file_is_a_module` fails until it is.

// The examples' shared code (flags, networks, data loading, evaluation), which several files
// test; compiled once for all of them.
#[path = "../examples/common/mod.rs"]
mod common;
// The draw example's server, which draw_server.rs and draw_page.rs run.
#[allow(dead_code)]
#[path = "../examples/draw/http.rs"]
mod http;
#[path = "../examples/draw/server.rs"]
mod server;

mod augmentation;
mod branching;
mod checkpoint;
mod cnn;
mod custom_layer;
mod custom_loss;
mod custom_metric;
mod custom_source;
mod derive;
mod derive_ui;
mod draw_page;
mod draw_server;
mod evaluate;
mod example_cli;
mod example_compare;
mod finetune;
mod folder_recipe;
mod image_layers;
mod new_layers;
mod optimizers;
mod predict;
mod pytorch_mlp;
mod pytorch_resnet;
mod targets;
mod trainer;
mod training_control;

/// The test files that are test targets of their own (see Cargo.toml), not modules of this one.
const OWN_TARGETS: [&str; 2] = ["main", "mnist_smoke"];

#[test]
fn every_test_file_is_a_module() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let listed = include_str!("main.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "rs")
            && !OWN_TARGETS.contains(&stem)
            && !listed.contains(&format!("\nmod {stem};\n"))
        {
            missing.push(format!("tests/{stem}.rs"));
        }
    }
    assert!(
        missing.is_empty(),
        "{} never run: autotests is off, so add `mod NAME;` for each to tests/main.rs",
        missing.join(", ")
    );
}
