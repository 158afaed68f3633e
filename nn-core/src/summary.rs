//! A Keras-style table of a network: every layer a forward runs, with its name, type, output shape
//! and parameter count, blocks first and their layers indented under them, branches marked.

use crate::layer::{forward_child, param_count, record, Layer, Mode, Record, Role};
use crate::tensor::Tensor;
use ndarray::IxDyn;
use std::fmt;

/// One row of a [`Summary`]: a layer, or a block of layers (then followed by its own rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// Full hierarchical name, such as `block.fc1`: its parameters' prefix in a checkpoint.
    pub name: String,
    /// The layer's [`Layer::type_name`].
    pub type_name: String,
    /// Output shape for the input shape the summary was made with.
    pub output_shape: Vec<usize>,
    /// Trainable scalars in this layer (a block: in all of its layers).
    pub params: usize,
    /// How deep in blocks the layer sits: 0 for the network's own layers, 1 for theirs, ...
    pub depth: usize,
    /// Whether it runs on the previous layer's output or is a path from its block's input.
    pub role: Role,
}

/// The layers of a network in forward order, with the total parameter count. Printed with `{}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// One row per layer run, in the order they start: a block before its own layers.
    pub rows: Vec<SummaryRow>,
    /// Trainable scalars in the whole network.
    pub total_params: usize,
}

/// Summarises `layer` for inputs of `input_shape` (batch dimension included, e.g. `[1, 784]`).
///
/// The rows come from one Eval forward of zeros, recording each layer a container runs through
/// [`forward_child`] (as derived networks, `Vec`s, tuples and the blocks do), so hand-written
/// layers are covered without declaring their shapes, and a block's shortcut or branches
/// appear where they run. An input shape a layer does not accept panics with that layer's
/// name, as in a real forward: `fc2: expected 128 input features, got 64`.
pub fn summary(layer: &mut dyn Layer, input_shape: &[usize]) -> Summary {
    let mut children = 0;
    layer.visit_children(&mut |_, _| children += 1);
    let x = Tensor::zeros(IxDyn(input_shape));
    let (_, records) = record(|| {
        if children == 0 {
            // A single layer is its own only row.
            forward_child("(root)", layer, x, Mode::Eval)
        } else {
            layer.forward(x, Mode::Eval)
        }
    });
    Summary {
        total_params: param_count(layer),
        rows: records.into_iter().map(SummaryRow::from).collect(),
    }
}

impl From<Record> for SummaryRow {
    fn from(r: Record) -> Self {
        SummaryRow {
            name: r.path,
            type_name: r.type_name,
            output_shape: r.output_shape,
            params: r.params,
            depth: r.depth,
            role: r.role,
        }
    }
}

impl SummaryRow {
    /// The name column: indented by depth.
    fn name_cell(&self) -> String {
        format!("{}{}", "  ".repeat(self.depth), self.name)
    }

    /// The type column: a path from the block's input says so (`None` as a shortcut is the
    /// identity).
    fn type_cell(&self) -> String {
        match (self.role, self.type_name.as_str()) {
            (Role::Layer, t) => t.to_string(),
            (Role::Shortcut, "None") => "shortcut: identity".to_string(),
            (Role::Shortcut, t) => format!("shortcut: {t}"),
            (Role::Branch, t) => format!("branch: {t}"),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cells: Vec<[String; 3]> = self
            .rows
            .iter()
            .map(|r| [r.name_cell(), r.type_cell(), format!("{:?}", r.output_shape)])
            .collect();
        let width = |i: usize, title: &str| cells.iter().map(|c| c[i].len()).fold(title.len(), usize::max);
        let (w_name, w_type, w_shape) = (width(0, "layer"), width(1, "type"), width(2, "output shape"));
        let rule = "-".repeat(w_name + w_type + w_shape + 16);
        writeln!(
            f,
            "{:<w_name$}  {:<w_type$}  {:<w_shape$}  {:>10}",
            "layer", "type", "output shape", "params"
        )?;
        writeln!(f, "{rule}")?;
        for (row, [name, type_name, shape]) in self.rows.iter().zip(&cells) {
            writeln!(
                f,
                "{name:<w_name$}  {type_name:<w_type$}  {shape:<w_shape$}  {:>10}",
                row.params
            )?;
        }
        writeln!(f, "{rule}")?;
        write!(f, "total trainable parameters: {}", self.total_params)
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
