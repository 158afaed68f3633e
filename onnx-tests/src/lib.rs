//! Nothing here: this package only holds the tests in `tests/`, which export networks with
//! `nn::onnx` and run them in tract (see `Cargo.toml` for why they live apart).
