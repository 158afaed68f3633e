//! Compile-fail tests of `#[derive(Sequential)]`: each file in `tests/ui/` must fail to compile
//! with exactly the message in its `.stderr` file. Regenerate after an intended change with
//! `TRYBUILD=overwrite cargo test --test derive_ui` and review the diff.

#[test]
fn refused_inputs_fail_with_spanned_messages() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
