//! Compile-fail tests of `#[derive(Sequential)]`: each file in `tests/ui/` must fail to compile
//! with exactly the message in its `.stderr` file. Regenerate after an intended change with
//! `TRYBUILD=overwrite cargo test --test integration derive_ui -- --ignored` and review the diff.
//!
//! Ignored in a plain `cargo test`: the first run compiles nn's dependencies once more for the
//! cases (minutes on a fresh clone), and the expected messages are rustc's exact wording, which
//! changes between toolchains. `.ci/run` runs it: `cargo test --test integration -- --ignored`.

#[test]
#[ignore = "minutes on a fresh clone, and rustc's wording changes between toolchains; .ci/run runs it"]
fn refused_inputs_fail_with_spanned_messages() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
