//! A Keras-style table of a network: each leaf layer's name, type, output shape and parameter count.

use crate::layer::{for_each_param, forward_child, param_count, Layer, Mode};
use crate::tensor::Tensor;
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
    /// Parameter scalars in this layer (frozen ones included).
    pub params: usize,
    /// How many of them are frozen ([`summary_frozen`]); 0 from [`summary`].
    pub frozen: usize,
}

/// The layers of a network in forward order, with the total parameter count. Printed with `{}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// One row per leaf layer, in forward order.
    pub rows: Vec<SummaryRow>,
    /// Parameter scalars in the whole network (frozen ones included).
    pub total_params: usize,
    /// How many of them are frozen ([`summary_frozen`]); 0 from [`summary`].
    pub frozen_params: usize,
}

/// Summarises `layer` for inputs of `input_shape` (batch dimension included, e.g. `[1, 784]`).
///
/// Output shapes come from an Eval forward of zeros through each leaf, so hand-written layers
/// are covered without declaring their shapes. An input shape a layer does not accept panics
/// with that layer's name, as in a real forward: `fc2: expected 128 input features, got 64`.
pub fn summary(layer: &mut dyn Layer, input_shape: &[usize]) -> Summary {
    let mut rows = Vec::new();
    walk(layer, String::new(), input_shape.to_vec(), &mut rows);
    Summary {
        total_params: param_count(layer),
        frozen_params: 0,
        rows,
    }
}

/// [`summary`], with the parameters `frozen` says yes to (by full name, as
/// [`Optimizer::is_frozen`](crate::optim::Optimizer::is_frozen) answers) counted apart: each row
/// shows how many of its parameters are frozen, and the last line the trainable and frozen
/// totals.
///
/// ```
/// use nn_core::{layers::Linear, optim::{Adam, Optimizer}, seeded, summary::summary_frozen, Init, Layer};
/// let mut rng = seeded(1);
/// let mut net = vec![Linear::new(4, 3, Init::He, &mut rng), Linear::new(3, 2, Init::He, &mut rng)];
/// let optimizer = Adam::new(1e-3).freeze("0");
/// let s = summary_frozen(&mut net, &[1, 4], &|name| optimizer.is_frozen(name));
/// assert_eq!((s.total_params, s.frozen_params), (23, 15));
/// assert!(s.to_string().ends_with("total parameters: 23 (trainable: 8, frozen: 15)"));
/// ```
pub fn summary_frozen(
    layer: &mut dyn Layer,
    input_shape: &[usize],
    frozen: &dyn Fn(&str) -> bool,
) -> Summary {
    let mut s = summary(layer, input_shape);
    let mut sizes = Vec::new();
    for_each_param(layer, |name, p| {
        if frozen(name) {
            sizes.push((name.to_string(), p.value.len()));
        }
    });
    for row in &mut s.rows {
        row.frozen = sizes
            .iter()
            .filter(|(name, _)| {
                row.name == "(root)"
                    || name
                        .strip_prefix(row.name.as_str())
                        .is_some_and(|r| r.starts_with('.'))
            })
            .map(|(_, n)| n)
            .sum();
    }
    s.frozen_params = sizes.iter().map(|(_, n)| n).sum();
    s
}

/// A row's parameter cell: the count, and how many are frozen when some are.
fn params_cell(row: &SummaryRow) -> String {
    match row.frozen {
        0 => row.params.to_string(),
        f if f == row.params => format!("{f} frozen"),
        f => format!("{} ({f} frozen)", row.params),
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
    let name = if path.is_empty() {
        "(root)".to_string()
    } else {
        path
    };
    let output = forward_child(&name, layer, Tensor::zeros(IxDyn(&shape)), Mode::Eval);
    let row = SummaryRow {
        name,
        type_name: layer.type_name(),
        output_shape: output.shape().to_vec(),
        params: param_count(layer),
        frozen: 0,
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
            .fold("layer".len(), usize::max);
        let w_type = self
            .rows
            .iter()
            .map(|r| r.type_name.len())
            .fold("type".len(), usize::max);
        let w_shape = shapes
            .iter()
            .map(String::len)
            .fold("output shape".len(), usize::max);
        let params: Vec<String> = self.rows.iter().map(params_cell).collect();
        let w_params = params.iter().map(String::len).fold(10, usize::max);
        let width = w_name + w_type + w_shape + w_params + 6;
        writeln!(
            f,
            "{:<w_name$}  {:<w_type$}  {:<w_shape$}  {:>w_params$}",
            "layer", "type", "output shape", "params"
        )?;
        writeln!(f, "{}", "-".repeat(width))?;
        for ((row, shape), params) in self.rows.iter().zip(&shapes).zip(&params) {
            writeln!(
                f,
                "{:<w_name$}  {:<w_type$}  {:<w_shape$}  {params:>w_params$}",
                row.name, row.type_name, shape
            )?;
        }
        writeln!(f, "{}", "-".repeat(width))?;
        match self.frozen_params {
            0 => write!(f, "total trainable parameters: {}", self.total_params),
            frozen => write!(
                f,
                "total parameters: {} (trainable: {}, frozen: {frozen})",
                self.total_params,
                self.total_params - frozen
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layers::{Linear, Relu};
    use crate::rng::seeded;

    fn net() -> Vec<Box<dyn Layer>> {
        let mut rng = seeded(1);
        vec![
            Box::new(Linear::new(4, 3, Init::He, &mut rng)),
            Box::new(Relu::new()),
            Box::new(Linear::new(3, 2, Init::He, &mut rng)),
        ]
    }

    #[test]
    fn lists_each_leaf_with_its_output_shape_and_parameters() {
        let s = summary(&mut net(), &[1, 4]);
        let rows: Vec<_> = s
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.output_shape.clone(), r.params))
            .collect();
        assert_eq!(
            rows,
            [("0", vec![1, 3], 15), ("1", vec![1, 3], 0), ("2", vec![1, 2], 8)]
        );
        assert_eq!(s.total_params, 23);
        assert!(s.to_string().ends_with("total trainable parameters: 23"), "{s}");
    }

    #[test]
    fn a_wrong_input_shape_names_the_layer_that_rejects_it() {
        let err = std::panic::catch_unwind(|| summary(&mut net(), &[1, 5])).unwrap_err();
        let msg = err.downcast_ref::<String>().expect("formatted message");
        assert!(msg.starts_with("0: expected 4 input features, got 5"), "{msg}");
    }
}
