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
struct Net<L> {
    fc: Id,
    inner: Option<L>,
}

fn run(layer: &mut dyn Layer) {
    let _ = layer.forward(Tensor::zeros(vec![1, 1]), Mode::Eval);
}

fn main() {
    // `Net<L>` is a layer only when `L` is one; `f32` is not.
    let mut net = Net::<f32> { fc: Id, inner: None };
    run(&mut net);
}
