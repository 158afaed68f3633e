//! ONNX export (the `onnx` feature): a network built from nn's layers, written as an ONNX model
//! that onnxruntime, tract and the other ONNX runtimes run.
//!
//! ```
//! use nn_core::{layers::{Linear, Relu}, init::Init, seeded, Layer};
//! let mut rng = seeded(4321);
//! let mut net: Vec<Box<dyn Layer>> = vec![
//!     Box::new(Linear::new(784, 128, Init::He, &mut rng)),
//!     Box::new(Relu::new()),
//!     Box::new(Linear::new(128, 10, Init::He, &mut rng)),
//! ];
//! # let dir = std::env::temp_dir().join(format!("nn-doc-onnx-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # let path = dir.join("mlp.onnx");
//! nn_core::onnx::export(&mut net, &[1, 784], &path)?; // input `input`, output `output`
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), nn_core::Error>(())
//! ```
//!
//! The file computes what the network's [`Mode::Eval`](crate::Mode::Eval) forward computes, in
//! opset [`OPSET`] (17). Its input is named `input` and its output `output`; the first dimension
//! of both is the batch, declared as the symbol `N`, so a runtime takes any batch size. The
//! parameters are stored under nn's names (`fc1.weight`, `bn1.running_mean`), as in a
//! checkpoint.
//!
//! Each layer adds its own nodes through [`Layer::to_onnx`]. nn's built-in layers are found by
//! type (through [`Layer::as_any_mut`]) and translated here, one function per layer in
//! `lower.rs`; derived networks, `Vec`, `Option` and `Box<dyn Layer>` translate their children in
//! order; a custom layer implements `to_onnx` with [`Graph::node`], [`Graph::param`] and
//! [`Graph::child`]. A layer that does neither makes the export fail with
//! [`OnnxError::NotExportable`], naming its path and type.

mod lower;
mod proto;

pub use crate::layer::onnx::{Attr, Graph, OnnxError, Value, OPSET};

use crate::error::Result;
use crate::layer::onnx::{Data, Initializer, Node};
use crate::Layer;
use prost::Message as _;
use proto::{attribute_type, data_type, DimensionValue};
use std::path::Path;

/// The ONNX IR version of the files: 8, the one that goes with opset 17.
const IR_VERSION: i64 = 8;

/// The names of the graph's input and output.
const INPUT: &str = "input";
const OUTPUT: &str = "output";

/// Writes `net` as an ONNX model to `path` (atomically: a failed export leaves no file), for
/// inputs of `input_shape` (batch first, as `[1, 784]`; the batch size stays free in the file).
///
/// Fails with [`OnnxError`] (in [`crate::Error::Onnx`]) on a layer that cannot be exported,
/// naming it, and on a file that cannot be written.
///
/// # Panics
/// As a forward would, naming the layer, if the network does not accept `input_shape`: the
/// export runs each layer once on zeros to learn the shapes.
pub fn export(net: &mut dyn Layer, input_shape: &[usize], path: impl AsRef<Path>) -> Result<()> {
    let bytes = to_bytes(net, input_shape)?;
    crate::fsutil::atomic_write_bytes(path, &bytes)
}

/// The ONNX model of `net` for inputs of `input_shape`, as the bytes [`export`] writes.
pub fn to_bytes(net: &mut dyn Layer, input_shape: &[usize]) -> std::result::Result<Vec<u8>, OnnxError> {
    let mut g = Graph::new(lower::builtin);
    let input = g.input(INPUT, input_shape);
    g.reserve(OUTPUT);
    let y = g.lower(net, input.clone())?;
    // The last node's output becomes `output`; an output that no node made (a network that is
    // the identity) is passed through a node, as a graph output must be a node's.
    if g.nodes.iter().any(|n| n.output == y.name()) {
        for node in &mut g.nodes {
            for name in node.inputs.iter_mut().chain([&mut node.output]) {
                if name == y.name() {
                    *name = OUTPUT.to_string();
                }
            }
        }
    } else {
        g.nodes.push(Node {
            op_type: "Identity".to_string(),
            inputs: vec![y.name().to_string()],
            output: OUTPUT.to_string(),
            attributes: Vec::new(),
        });
    }
    let batch = input_shape.first().copied();
    let graph = proto::GraphProto {
        node: g.nodes.into_iter().map(node).collect(),
        name: net.type_name(),
        initializer: g.initializers.into_iter().map(tensor).collect(),
        input: vec![value_info(INPUT, Some(input_shape), batch)],
        output: vec![value_info(OUTPUT, y.shape(), batch)],
    };
    let model = proto::ModelProto {
        ir_version: IR_VERSION,
        producer_name: "nn".to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        doc_string: format!("{} exported by nn", net.type_name()),
        graph: Some(graph),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    };
    Ok(model.encode_to_vec())
}

fn node(n: Node) -> proto::NodeProto {
    proto::NodeProto {
        input: n.inputs,
        name: n.output.clone(),
        output: vec![n.output],
        op_type: n.op_type,
        attribute: n
            .attributes
            .into_iter()
            .map(|(name, a)| attribute(name, a))
            .collect(),
    }
}

fn attribute(name: String, a: Attr) -> proto::AttributeProto {
    let mut p = proto::AttributeProto {
        name,
        ..Default::default()
    };
    match a {
        Attr::Int(i) => (p.i, p.r#type) = (Some(i), attribute_type::INT),
        Attr::Ints(ints) => (p.ints, p.r#type) = (ints, attribute_type::INTS),
        Attr::Float(f) => (p.f, p.r#type) = (Some(f), attribute_type::FLOAT),
        Attr::Str(s) => (p.s, p.r#type) = (Some(s.into_bytes()), attribute_type::STRING),
    }
    p
}

/// A stored tensor, its numbers little-endian (ONNX's `raw_data` layout).
fn tensor(init: Initializer) -> proto::TensorProto {
    let (data_type, raw_data) = match init.data {
        Data::F32(v) => (data_type::FLOAT, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Data::I64(v) => (data_type::INT64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    proto::TensorProto {
        dims: init.shape.iter().map(|&d| d as i64).collect(),
        data_type,
        name: init.name,
        raw_data,
    }
}

/// A graph input's or output's type: f32, of `shape` when known, its first dimension the
/// symbol `N` when it is the batch (the input's first dimension, `batch`).
fn value_info(name: &str, shape: Option<&[usize]>, batch: Option<usize>) -> proto::ValueInfoProto {
    let shape = shape.map(|s| proto::TensorShapeProto {
        dim: s
            .iter()
            .enumerate()
            .map(|(i, &d)| proto::Dimension {
                value: Some(if i == 0 && Some(d) == batch {
                    DimensionValue::DimParam("N".to_string())
                } else {
                    DimensionValue::DimValue(d as i64)
                }),
            })
            .collect(),
    });
    proto::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(proto::TypeProto {
            tensor_type: Some(proto::TensorType {
                elem_type: data_type::FLOAT,
                shape,
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::Init;
    use crate::layers::{Linear, Relu};
    use crate::rng::seeded;
    use crate::{Mode, Tensor};

    fn mlp() -> Vec<Box<dyn Layer>> {
        let mut rng = seeded(1);
        vec![
            Box::new(Linear::new(784, 16, Init::He, &mut rng)),
            Box::new(Relu::new()),
            Box::new(Linear::new(16, 10, Init::He, &mut rng)),
        ]
    }

    fn dims(v: &proto::ValueInfoProto) -> Vec<String> {
        let t = v.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
        assert_eq!(t.elem_type, data_type::FLOAT);
        let shape = t.shape.as_ref().unwrap();
        shape
            .dim
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                DimensionValue::DimValue(v) => v.to_string(),
                DimensionValue::DimParam(p) => p.clone(),
            })
            .collect()
    }

    #[test]
    fn the_file_declares_opset_17_a_free_batch_and_nns_parameter_names() {
        let bytes = to_bytes(&mut mlp(), &[1, 784]).unwrap();
        let model = proto::ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!((model.ir_version, model.producer_name.as_str()), (8, "nn"));
        assert_eq!(model.opset_import.len(), 1);
        assert_eq!(
            (
                model.opset_import[0].domain.as_str(),
                model.opset_import[0].version
            ),
            ("", 17)
        );
        let graph = model.graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Gemm", "Relu", "Gemm"]);
        assert_eq!(graph.node[0].input, ["input", "0.weight", "0.bias"]);
        assert_eq!(graph.node[1].input, ["0/Gemm"]);
        assert_eq!(graph.node[2].output, ["output"]);
        let transb = &graph.node[0].attribute[0];
        assert_eq!(
            (transb.name.as_str(), transb.i, transb.r#type),
            ("transB", Some(1), attribute_type::INT)
        );
        let names: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
        let w = &graph.initializer[0];
        assert_eq!(
            (w.dims.as_slice(), w.data_type),
            ([16, 784].as_slice(), data_type::FLOAT)
        );
        assert_eq!(w.raw_data.len(), 16 * 784 * 4);
        assert_eq!(dims(&graph.input[0]), ["N", "784"]);
        assert_eq!(dims(&graph.output[0]), ["N", "10"]);
    }

    #[test]
    fn stored_numbers_are_the_parameters_little_endian() {
        let mut net = mlp();
        let bytes = to_bytes(&mut net, &[2, 784]).unwrap();
        let graph = proto::ModelProto::decode(bytes.as_slice())
            .unwrap()
            .graph
            .unwrap();
        let stored: Vec<f32> = graph.initializer[2]
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let mut expected = Vec::new();
        crate::for_each_param(&mut net, |name, p| {
            if name == "2.weight" {
                expected.extend(p.value.iter().copied());
            }
        });
        assert_eq!(stored, expected);
    }

    /// A layer whose `to_onnx` asks for a tensor it does not have.
    struct AsksForWeight;

    impl Layer for AsksForWeight {
        fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
            x
        }
        fn backward(&mut self, grad: Tensor) -> Tensor {
            grad
        }
        fn to_onnx(&mut self, g: &mut Graph, x: Value) -> std::result::Result<Value, OnnxError> {
            let w = g.param(self, "weight")?;
            Ok(g.node("Mul", &[&x, &w], &[]))
        }
    }

    #[test]
    fn asking_for_a_missing_parameter_names_the_layer_and_what_it_has() {
        let mut net: Vec<Box<dyn Layer>> = vec![Box::new(Relu::new()), Box::new(AsksForWeight)];
        let err = to_bytes(&mut net, &[1, 3]).unwrap_err();
        assert_eq!(
            err,
            OnnxError::NoSuchTensor {
                path: "1".into(),
                name: "weight".into(),
                known: vec![]
            }
        );
        assert!(
            err.to_string().starts_with("1: no parameter or buffer `weight`"),
            "{err}"
        );
    }

    #[test]
    fn values_get_unique_names_and_shapes_only_when_known() {
        let mut g = Graph::new(lower::builtin);
        let x = g.input("input", &[2, 3]);
        let a = g.node("Relu", &[&x], &[]);
        let b = g.node("Relu", &[&a], &[]);
        assert_eq!((a.name(), b.name()), ("Relu", "Relu_1"));
        assert_eq!(g.shape_of(&x).unwrap(), [2, 3]);
        let err = g.shape_of(&b).unwrap_err();
        assert_eq!(
            err,
            OnnxError::UnknownShape {
                path: "(root)".into(),
                value: "Relu_1".into()
            }
        );
    }
}
