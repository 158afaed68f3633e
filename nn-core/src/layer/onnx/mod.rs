//! How a layer describes itself in ONNX: the [`Graph`] that [`Layer::to_onnx`] adds nodes to, the
//! [`Value`]s that flow between them, and [`OnnxError`].
//!
//! This part is always compiled, because it is in the `Layer` trait's signature; writing the
//! file (`nn::onnx::export`) and the translation of nn's built-in layers come with the `onnx`
//! feature. A custom layer describes itself with [`Graph::node`] (an operator of the ONNX
//! standard), [`Graph::param`] (its own tensors, under nn's names), [`Graph::constant`] and
//! [`Graph::child`] (a sub-layer):
//!
//! ```
//! use nn_core::layer::onnx::{Graph, OnnxError, Value};
//! use nn_core::{Layer, Mode, Tensor};
//!
//! /// `y = 2x`.
//! struct Double;
//!
//! impl Layer for Double {
//!     fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
//!         x * 2.0
//!     }
//!     fn backward(&mut self, grad: Tensor) -> Tensor {
//!         grad * 2.0
//!     }
//!     fn to_onnx(&mut self, g: &mut Graph, x: Value) -> Result<Value, OnnxError> {
//!         let two = g.constant("two", &[], &[2.0]);
//!         Ok(g.node("Mul", &[&x, &two], &[]))
//!     }
//! }
//! ```
//!
//! The custom_layer example's LeakyReLU and residual block (examples/custom_layer/layers.rs)
//! are two more.

// Without the `onnx` feature nothing builds or reads a graph; the trait still names it.
#![cfg_attr(not(feature = "onnx"), allow(dead_code))]

mod error;

pub use error::OnnxError;

use crate::layer::{forward_child, Layer, Mode, Param};
use crate::tensor::{Tensor, TensorViewMut};
use crate::Visitor;
use std::any::Any;
use std::collections::HashSet;

/// A tensor in the graph being built: the graph's input, a parameter, a constant or a node's
/// output. Its shape is known at layer boundaries (the export runs each layer on zeros of its
/// input shape), and for parameters and constants.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    name: String,
    shape: Option<Vec<usize>>,
}

impl Value {
    /// The name it has in the ONNX file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its shape for the input shape the export was given, when known.
    pub fn shape(&self) -> Option<&[usize]> {
        self.shape.as_deref()
    }

    /// An optional input left out (ONNX's empty name), such as `Resize`'s `roi`.
    pub fn absent() -> Self {
        Value {
            name: String::new(),
            shape: None,
        }
    }

    /// The same value with its shape declared, for a value made inside a `to_onnx` (a reshape)
    /// that is handed on to a sub-layer which needs its input's shape.
    pub fn with_shape(mut self, shape: Vec<usize>) -> Self {
        self.shape = Some(shape);
        self
    }
}

/// An attribute of an ONNX node (`transB`, `kernel_shape`, `epsilon`, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// An `INT` attribute.
    Int(i64),
    /// An `INTS` attribute.
    Ints(Vec<i64>),
    /// A `FLOAT` attribute.
    Float(f32),
    /// A `STRING` attribute.
    Str(String),
}

/// One ONNX node with one output, as the encoder writes it.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub op_type: String,
    pub inputs: Vec<String>,
    pub output: String,
    pub attributes: Vec<(String, Attr)>,
}

/// The numbers of a parameter or constant.
#[derive(Clone, Debug)]
pub(crate) enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A named tensor stored in the file: a parameter, a buffer or a constant.
#[derive(Clone, Debug)]
pub(crate) struct Initializer {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Translates nn's built-in layers, found by type; `None` for any other type. Supplied by the
/// exporter (`nn::onnx`), which knows the layers: this module, in the `Layer` trait's room,
/// does not.
pub(crate) type Builtin = fn(&mut dyn Any, &mut Graph, Value) -> Option<Result<Value, OnnxError>>;

/// The ONNX graph an export builds: each layer's [`Layer::to_onnx`] adds the nodes that compute
/// its output from its input.
///
/// Names follow nn's: a parameter is stored under its full name (`block.fc1.weight`), a node's
/// output is named after the layer that made it (`block.fc1/Gemm`), and a constant after its
/// layer too (`drop/scale`).
pub struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) initializers: Vec<Initializer>,
    /// The path of the layer being translated, `block.fc1`; empty for the network itself.
    path: String,
    names: HashSet<String>,
    builtin: Builtin,
}

impl Graph {
    /// An empty graph whose built-in layers `builtin` translates.
    pub(crate) fn new(builtin: Builtin) -> Self {
        Graph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            path: String::new(),
            names: HashSet::new(),
            builtin,
        }
    }

    /// The graph input `name`, of `shape`.
    pub(crate) fn input(&mut self, name: &str, shape: &[usize]) -> Value {
        self.names.insert(name.to_string());
        Value {
            name: name.to_string(),
            shape: Some(shape.to_vec()),
        }
    }

    /// Keeps `name` from being given to any value (the graph output's name).
    pub(crate) fn reserve(&mut self, name: &str) {
        self.names.insert(name.to_string());
    }

    /// Translates `layer` with input `x` under the current path, and gives the output the
    /// shape `layer` produces from zeros of `x`'s shape (in Eval mode, as the file computes).
    ///
    /// # Panics
    /// As a forward would, naming the layer, if `layer` does not accept `x`'s shape.
    pub(crate) fn lower<L: Layer + ?Sized>(&mut self, layer: &mut L, x: Value) -> Result<Value, OnnxError> {
        let input_shape = x.shape.clone();
        let y = layer.to_onnx(self, x)?;
        Ok(match input_shape {
            Some(shape) => {
                let out = forward_child(&self.path, layer, Tensor::zeros(shape), Mode::Eval);
                y.with_shape(out.shape().to_vec())
            }
            None => y,
        })
    }

    /// Translates a sub-layer named `name` (a field, a `Vec` index) with input `x`, and returns
    /// its output. Containers call this for each child, as their forward calls
    /// [`forward_child`]; the child's parameters are then named `name.weight`.
    // Generic rather than `&mut dyn Layer`, so a derived struct's non-layer field is one error
    // (the trait bound, reported once per field) rather than a second one for the cast.
    pub fn child<L: Layer + ?Sized>(
        &mut self,
        name: &str,
        layer: &mut L,
        x: Value,
    ) -> Result<Value, OnnxError> {
        let len = self.path.len();
        if len > 0 {
            self.path.push('.');
        }
        self.path.push_str(name);
        let y = self.lower(layer, x);
        self.path.truncate(len);
        y
    }

    /// Adds a node of the standard ONNX operator `op_type` (opset [`OPSET`]) reading `inputs`,
    /// with `attributes`, and returns its output.
    pub fn node(&mut self, op_type: &str, inputs: &[&Value], attributes: &[(&str, Attr)]) -> Value {
        let output = self.fresh(op_type, '/');
        self.nodes.push(Node {
            op_type: op_type.to_string(),
            inputs: inputs.iter().map(|v| v.name.clone()).collect(),
            output: output.clone(),
            attributes: attributes
                .iter()
                .map(|(name, a)| (name.to_string(), a.clone()))
                .collect(),
        });
        Value {
            name: output,
            shape: None,
        }
    }

    /// `a + b` (ONNX `Add`) for two values of one shape, such as a block's two paths: the sum has
    /// `a`'s shape.
    pub fn add(&mut self, a: &Value, b: &Value) -> Value {
        let sum = self.node("Add", &[a, b], &[]);
        match a.shape() {
            Some(shape) => sum.with_shape(shape.to_vec()),
            None => sum,
        }
    }

    /// The parameter or buffer `name` of `layer` (the layer being translated, whose `visit`
    /// reports it: `weight`, `running_mean`), stored in the file under its full name
    /// (`fc1.weight`).
    pub fn param(&mut self, layer: &mut dyn Layer, name: &str) -> Result<Value, OnnxError> {
        let full = if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        };
        if let Some(init) = self.initializers.iter().find(|i| i.name == full) {
            return Ok(Value {
                name: full,
                shape: Some(init.shape.clone()),
            });
        }
        let (mut params, mut buffers) = (Found::default(), Found::default());
        layer.visit(&mut Visitor::new(
            &mut |n: &str, p: Param<'_>| params.see(n, name, p.value),
            &mut |n: &str, v: TensorViewMut<'_>| buffers.see(n, name, v),
        ));
        let Some((shape, data)) = params.tensor.or(buffers.tensor) else {
            return Err(OnnxError::NoSuchTensor {
                path: self.layer_path(),
                name: name.to_string(),
                known: [params.names, buffers.names].concat(),
            });
        };
        self.names.insert(full.clone());
        self.initializers.push(Initializer {
            name: full.clone(),
            shape: shape.clone(),
            data: Data::F32(data),
        });
        Ok(Value {
            name: full,
            shape: Some(shape),
        })
    }

    /// A constant tensor of `shape` (row-major `values`), named after the current layer
    /// (`drop/scale`).
    ///
    /// # Panics
    /// If `values` does not have `shape`'s number of elements.
    pub fn constant(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Value {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "Graph::constant: {} values for shape {shape:?}",
            values.len()
        );
        self.add_constant(name, shape.to_vec(), Data::F32(values.to_vec()))
    }

    /// A constant vector of 64-bit integers (a shape for `Reshape`, axes), named after the
    /// current layer.
    pub fn constant_i64(&mut self, name: &str, values: &[i64]) -> Value {
        self.add_constant(name, vec![values.len()], Data::I64(values.to_vec()))
    }

    /// `x`'s shape, or an error naming the current layer when it is unknown (see
    /// [`Value::with_shape`]).
    pub fn shape_of<'v>(&self, x: &'v Value) -> Result<&'v [usize], OnnxError> {
        x.shape().ok_or_else(|| OnnxError::UnknownShape {
            path: self.layer_path(),
            value: x.name.clone(),
        })
    }

    /// The error for settings of the current layer (of type `type_name`) that have no ONNX
    /// equivalent; `reason` says which, and the fix.
    pub fn unsupported(&self, type_name: String, reason: impl Into<String>) -> OnnxError {
        OnnxError::Unsupported {
            path: self.layer_path(),
            type_name,
            reason: reason.into(),
        }
    }

    /// The default of [`Layer::to_onnx`]: a built-in layer (`layer` as `Any`) is translated by
    /// the exporter; any other is an error naming its path and type.
    pub(crate) fn builtin(
        &mut self,
        layer: Option<&mut dyn Any>,
        type_name: String,
        x: Value,
    ) -> Result<Value, OnnxError> {
        let builtin = self.builtin;
        match layer.and_then(|layer| builtin(layer, self, x)) {
            Some(y) => y,
            None => Err(OnnxError::NotExportable {
                path: self.layer_path(),
                type_name,
            }),
        }
    }

    /// The current layer's path for messages: `(root)` for the network itself.
    fn layer_path(&self) -> String {
        if self.path.is_empty() {
            "(root)".to_string()
        } else {
            self.path.clone()
        }
    }

    fn add_constant(&mut self, name: &str, shape: Vec<usize>, data: Data) -> Value {
        let name = self.fresh(name, '/');
        self.initializers.push(Initializer {
            name: name.clone(),
            shape: shape.clone(),
            data,
        });
        Value {
            name,
            shape: Some(shape),
        }
    }

    /// A name not yet used: `{path}{sep}{base}`, or `base` at the root, with `_1`, `_2`, ...
    /// appended if taken.
    fn fresh(&mut self, base: &str, sep: char) -> String {
        let stem = if self.path.is_empty() {
            base.to_string()
        } else {
            format!("{}{sep}{base}", self.path)
        };
        let mut name = stem.clone();
        let mut k = 0;
        while self.names.contains(&name) {
            k += 1;
            name = format!("{stem}_{k}");
        }
        self.names.insert(name.clone());
        name
    }
}

/// What a walk over a layer's tensors found: the names it saw, and the tensor wanted.
#[derive(Default)]
struct Found {
    names: Vec<String>,
    tensor: Option<(Vec<usize>, Vec<f32>)>,
}

impl Found {
    fn see(&mut self, name: &str, wanted: &str, value: TensorViewMut<'_>) {
        self.names.push(name.to_string());
        if name == wanted {
            self.tensor = Some((value.shape().to_vec(), value.iter().copied().collect()));
        }
    }
}

/// The ONNX operator set nn writes: opset 17 (ONNX 1.12, 2022), read by onnxruntime 1.12 and
/// later and by tract. Its operators have the semantics a node's `op_type` refers to.
pub const OPSET: i64 = 17;
