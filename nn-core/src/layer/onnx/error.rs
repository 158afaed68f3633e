//! Why a network could not be written as ONNX: [`OnnxError`].

/// A network that cannot be described as an ONNX graph. Each message names the layer by its path
/// (`block.act`, as in parameter names) and says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// A layer without an ONNX description: a custom layer that does not implement
    /// [`Layer::to_onnx`](crate::Layer::to_onnx).
    #[error(
        "{path} ({type_name}) cannot be exported to ONNX: its type does not describe itself as ONNX \
         nodes; fix: implement `Layer::to_onnx` for it (see nn::onnx), or build it from nn's layers"
    )]
    NotExportable {
        /// The layer's path in the network (`layer` for the network itself).
        path: String,
        /// Its [`Layer::type_name`](crate::Layer::type_name).
        type_name: String,
    },
    /// A layer's description asked for a parameter or buffer the layer does not report.
    #[error(
        "{path}: no parameter or buffer `{name}` (the layer reports {known:?}); fix: ask for one of \
         those names in its `to_onnx`"
    )]
    NoSuchTensor {
        /// The layer's path.
        path: String,
        /// The local name asked for (`weight`).
        name: String,
        /// The names the layer's `visit` reports.
        known: Vec<String>,
    },
    /// A layer whose settings have no ONNX equivalent in the opset nn writes.
    #[error("{path} ({type_name}): {reason}")]
    Unsupported {
        /// The layer's path.
        path: String,
        /// Its type name.
        type_name: String,
        /// What cannot be expressed, and the fix.
        reason: String,
    },
    /// An input whose shape the export needs but does not know: a value made inside a layer's
    /// `to_onnx` and handed to a sub-layer without [`Value::with_shape`](super::Value::with_shape).
    #[error(
        "{path}: the shape of its input `{value}` is unknown; fix: declare it with \
         `Value::with_shape` in the `to_onnx` that made the value"
    )]
    UnknownShape {
        /// The layer's path.
        path: String,
        /// The value's name in the graph.
        value: String,
    },
}
