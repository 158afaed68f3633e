//! The custom layer of the custom_layer example, written outside the framework with nothing but
//! `nn::prelude` and `nn::ndarray` (tests/custom_layer.rs includes this file to test it).

use nn::layer::onnx::{Attr, Graph, OnnxError, Value};
use nn::ndarray::Zip;
use nn::prelude::*;

/// `y = x` where `x > 0`, else `slope * x`. Works in place on the tensor it receives and keeps one
/// bool per element (whether the input was positive) for backward.
pub struct LeakyRelu {
    slope: f32,
    /// Reused from step to step; `take` panics, naming this layer's path, after an Eval forward
    /// or on a gradient of the wrong shape.
    positive: Saved<bool>,
}

impl LeakyRelu {
    pub fn new(slope: f32) -> Self {
        LeakyRelu {
            slope,
            positive: Saved::new(),
        }
    }
}

impl Layer for LeakyRelu {
    fn forward(&mut self, mut x: Tensor, mode: Mode) -> Tensor {
        if mode == Mode::Train {
            Zip::from(self.positive.prepare(x.shape()))
                .and(&x)
                .for_each(|p, &v| *p = v > 0.0);
        }
        let slope = self.slope;
        x.mapv_inplace(|v| if v > 0.0 { v } else { slope * v });
        x
    }

    fn backward(&mut self, mut grad: Tensor) -> Tensor {
        let positive = self.positive.take(grad.shape(), "LeakyRelu");
        let slope = self.slope;
        Zip::from(&mut grad).and(positive).for_each(|g, &p| {
            if !p {
                *g *= slope;
            }
        });
        grad
    }

    fn type_name(&self) -> String {
        format!("LeakyRelu({})", self.slope)
    }

    /// ONNX has this activation as an operator of its own.
    fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
        Ok(g.node("LeakyRelu", &[&x], &[("alpha", Attr::Float(self.slope))]))
    }
}
