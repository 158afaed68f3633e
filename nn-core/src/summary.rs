//! A Keras-style table of a network: each leaf layer's name, type, output shape and parameter count.

use crate::layer::{param_count, Layer, Mode};
use crate::Tensor;
use ndarray::IxDyn;
use std::fmt;

/// One row of a [`Summary`]: a leaf layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// Full hierarchical name, such as `block.fc1`.
    pub name: String,
    /// The layer's [`Layer::type_name`].
    pub type_name: String,
    /// Output shape for the input shape the summary was made with.
    pub output_shape: Vec<usize>,
    /// Trainable scalars in this layer.
    pub params: usize,
}

/// The layers of a network in forward order, with the total parameter count. Printed with `{}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// One row per leaf layer, in forward order.
    pub rows: Vec<SummaryRow>,
    /// Trainable scalars in the whole network.
    pub total_params: usize,
}

/// Summarises `layer` for inputs of `input_shape` (batch dimension included, e.g. `[1, 784]`).
///
/// Output shapes come from an Eval forward of zeros through each leaf, so hand-written layers
/// are covered without declaring their shapes.
pub fn summary(layer: &mut dyn Layer, input_shape: &[usize]) -> Summary {
    let mut rows = Vec::new();
    walk(layer, String::new(), input_shape.to_vec(), &mut rows);
    Summary {
        total_params: param_count(layer),
        rows,
    }
}

fn walk(layer: &mut dyn Layer, path: String, shape: Vec<usize>, rows: &mut Vec<SummaryRow>) -> Vec<usize> {
    let mut children = false;
    let mut shape = Some(shape);
    layer.visit_children(&mut |name, child| {
        children = true;
        let child_path = if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        let input = shape.take().expect("shape threaded through children");
        shape = Some(walk(child, child_path, input, rows));
    });
    let shape = shape.expect("shape threaded through children");
    if children {
        return shape;
    }
    let output = layer.forward(Tensor::zeros(IxDyn(&shape)), Mode::Eval);
    let row = SummaryRow {
        name: if path.is_empty() {
            "(root)".to_string()
        } else {
            path
        },
        type_name: layer.type_name(),
        output_shape: output.shape().to_vec(),
        params: param_count(layer),
    };
    rows.push(row);
    output.shape().to_vec()
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{:?}", r.output_shape))
            .collect();
        let w_name = self
            .rows
            .iter()
            .map(|r| r.name.len())
            .chain([5])
            .max()
            .unwrap_or(5);
        let w_type = self
            .rows
            .iter()
            .map(|r| r.type_name.len())
            .chain([4])
            .max()
            .unwrap_or(4);
        let w_shape = shapes.iter().map(String::len).chain([12]).max().unwrap_or(12);
        let width = w_name + w_type + w_shape + 16;
        writeln!(
            f,
            "{:<w_name$}  {:<w_type$}  {:<w_shape$}  {:>10}",
            "layer", "type", "output shape", "params"
        )?;
        writeln!(f, "{}", "-".repeat(width))?;
        for (row, shape) in self.rows.iter().zip(&shapes) {
            writeln!(
                f,
                "{:<w_name$}  {:<w_type$}  {:<w_shape$}  {:>10}",
                row.name, row.type_name, shape, row.params
            )?;
        }
        writeln!(f, "{}", "-".repeat(width))?;
        write!(f, "total trainable parameters: {}", self.total_params)
    }
}
