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
struct Net {
    #[sequential]
    a: Id,
    #[sequential()]
    b: Id,
    #[sequential = 1]
    c: Id,
    #[sequential(skip = true)]
    d: Id,
    #[sequential(skip(all))]
    e: Id,
    #[sequential(skip, skip)]
    f: Id,
    #[sequential(skip)]
    #[sequential(skip)]
    g: Id,
    h: Id,
}

fn main() {}
