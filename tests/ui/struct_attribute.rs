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

#[derive(Sequential)]
#[sequential(skip)]
struct Net {
    a: Id,
}

fn main() {}
