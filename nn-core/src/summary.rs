//! A Keras-style table of a network: every layer a forward runs, with its name, type, output shape
//! and parameter count, blocks first and their layers indented under them, branches marked.

use crate::layer::{for_each_param, forward_child, param_count, record, Layer, Mode, Record, Role};
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
    /// Parameter scalars in this layer (a block: in all of its layers), frozen ones included.
    pub params: usize,
    /// How many of them are frozen ([`summary_frozen`]); 0 from [`summary`].
    pub frozen: usize,
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
    /// Parameter scalars in the whole network (frozen ones included).
    pub total_params: usize,
    /// How many of them are frozen ([`summary_frozen`]); 0 from [`summary`].
    pub frozen_params: usize,
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
        frozen_params: 0,
        rows: records.into_iter().map(SummaryRow::from).collect(),
    }
}

/// [`summary`], with the parameters `frozen` says yes to (by full name, as
/// [`Optimizer::is_frozen`](crate::optim::Optimizer::is_frozen) answers) counted apart: each row
/// (a block's too) shows how many of its parameters are frozen, and the last line the trainable
/// and frozen totals.
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

impl From<Record> for SummaryRow {
    fn from(r: Record) -> Self {
        SummaryRow {
            name: r.path,
            type_name: r.type_name,
            output_shape: r.output_shape,
            params: r.params,
            frozen: 0,
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

    /// The parameter column: the count, and how many are frozen when some are.
    fn params_cell(&self) -> String {
        match self.frozen {
            0 => self.params.to_string(),
            f if f == self.params => format!("{f} frozen"),
            f => format!("{} ({f} frozen)", self.params),
        }
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
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.name_cell(),
                    r.type_cell(),
                    format!("{:?}", r.output_shape),
                    r.params_cell(),
                ]
            })
            .collect();
        let width = |i: usize, title: &str| cells.iter().map(|c| c[i].len()).fold(title.len(), usize::max);
        let (w_name, w_type, w_shape) = (width(0, "layer"), width(1, "type"), width(2, "output shape"));
        let w_params = width(3, "      params");
        let rule = "-".repeat(w_name + w_type + w_shape + w_params + 6);
        writeln!(
            f,
            "{:<w_name$}  {:<w_type$}  {:<w_shape$}  {:>w_params$}",
            "layer", "type", "output shape", "params"
        )?;
        writeln!(f, "{rule}")?;
        for [name, type_name, shape, params] in &cells {
            writeln!(
                f,
                "{name:<w_name$}  {type_name:<w_type$}  {shape:<w_shape$}  {params:>w_params$}"
            )?;
        }
        writeln!(f, "{rule}")?;
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
