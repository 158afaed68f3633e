//! `--onnx FILE`: a network written as an ONNX model (`nn::onnx::export`), by the training
//! examples after training and by `evaluate` from a checkpoint.

use super::flags::OnnxFlag;
use nn::Layer;
use std::path::Path;
use std::time::Instant;

impl OnnxFlag {
    /// Makes sure the file's directory can be written, before the work whose result it stores.
    pub fn prepare(&self) -> nn::Result<()> {
        match self.onnx.as_deref().map(Path::parent) {
            Some(Some(dir)) if !dir.as_os_str().is_empty() => nn::fsutil::prepare_output_dir(dir),
            _ => Ok(()),
        }
    }

    /// Writes `net`, which takes samples of `sample_shape`, to the file if one was given, and
    /// says so with the input shape and the time the export took.
    pub fn export(&self, net: &mut dyn Layer, sample_shape: &[usize]) -> nn::Result<()> {
        let Some(path) = &self.onnx else {
            return Ok(());
        };
        let start = Instant::now();
        nn::onnx::export(net, &[&[1], sample_shape].concat(), path)?;
        let dims: Vec<String> = sample_shape.iter().map(usize::to_string).collect();
        println!(
            "wrote {} (ONNX opset {}, input `input` [N, {}], output `output`, {:.1} ms)",
            path.display(),
            nn::onnx::OPSET,
            dims.join(", "),
            start.elapsed().as_secs_f64() * 1e3
        );
        Ok(())
    }
}
