use nn::prelude::*;

struct Id;

impl Layer for Id {
    fn forward(&mut self, x: Tensor, _mode: Mode) -> Tensor {
        x
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        grad
    }
}

/// A config field someone forgot to mark `#[sequential(skip)]`.
#[derive(Sequential)]
struct Net {
    fc: Id,
    name: String,
    layers: Vec<u8>,
}

fn main() {}
