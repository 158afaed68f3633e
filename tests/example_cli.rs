//! The examples' flag parser (examples/common/cli.rs), compiled here so that `cargo test` runs
//! its checks: examples themselves have no test harness.

#[allow(dead_code)]
#[path = "../examples/common/cli.rs"]
mod cli;

use cli::{Cli, NonNegative, Positive};

fn parse(args: &[&str]) -> Cli {
    Cli::parse("prog".into(), "about", args.iter().map(|a| a.to_string()))
}

#[test]
fn a_repeated_flag_is_reported_as_repeated_not_unknown() {
    let mut cli = parse(&["--epochs", "3", "--epochs", "4", "--bogus", "1"]);
    assert_eq!(cli.get("epochs", "N", "epochs", 1usize), 3);
    assert_eq!(
        cli.first_error(),
        Some("--epochs is given more than once; give it once")
    );
    let mut cli = parse(&["--bogus", "1"]);
    let _ = cli.get("epochs", "N", "epochs", 1usize);
    assert_eq!(cli.first_error(), Some("unknown flag --bogus"));
    let mut cli = parse(&["--epochs=2"]);
    assert_eq!(cli.get("epochs", "N", "epochs", 1usize), 2);
    assert_eq!(cli.first_error(), None);
}

#[test]
fn rates_and_decays_out_of_range_are_usage_errors() {
    // These values used to reach the optimizers, which panic on them.
    for bad in ["0", "-0.1", "nan", "inf", "abc"] {
        let mut cli = parse(&["--lr", bad]);
        assert_eq!(cli.get("lr", "F", "rate", Positive(0.1)), Positive(0.1));
        let err = cli.first_error().expect(bad).to_string();
        assert!(
            err.starts_with(&format!("--lr {bad}: expected a number above 0")),
            "{err}"
        );
    }
    for bad in ["-1", "NaN", "-inf"] {
        let mut cli = parse(&["--weight-decay", bad]);
        let _ = cli.get("weight-decay", "F", "decay", NonNegative(0.0));
        assert!(cli.first_error().is_some(), "{bad}");
    }
    let mut cli = parse(&["--lr", "1e-3", "--weight-decay", "0"]);
    assert_eq!(cli.get("lr", "F", "rate", Positive(0.1)), Positive(1e-3));
    assert_eq!(
        cli.get("weight-decay", "F", "decay", NonNegative(1.0)),
        NonNegative(0.0)
    );
    assert_eq!(cli.first_error(), None);
}

#[test]
fn arguments_that_are_not_flags_are_errors_unless_the_program_takes_them() {
    let mut cli = parse(&["--model", "m.safetensors", "a.png", "b.png"]);
    let model: Option<String> = cli.optional("model", "FILE", "checkpoint");
    assert_eq!(model.as_deref(), Some("m.safetensors"));
    assert_eq!(cli.positional("IMAGE...", "pictures"), ["a.png", "b.png"]);
    assert_eq!(cli.first_error(), None);
    assert!(
        cli.usage().contains("Usage: prog [FLAGS] IMAGE..."),
        "{}",
        cli.usage()
    );
    let mut cli = parse(&["--epochs", "3", "stray"]);
    let _ = cli.get("epochs", "N", "epochs", 1usize);
    assert_eq!(
        cli.first_error(),
        Some("unexpected argument 'stray' (flags look like --name value)")
    );
}
