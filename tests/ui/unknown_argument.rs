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

// Every bad field is reported in the same build.
#[derive(Sequential)]
struct Net {
    #[sequential(foo)]
    a: Id,
    #[sequential(Skip)]
    b: Id,
    #[sequential(skip, flatten)]
    c: Id,
    #[sequential(serde::skip)]
    d: Id,
}

fn main() {}
