use nn::prelude::*;

// A field that is not a layer is one error, at the field, however the struct is used: the
// derived impl carries no bound that fails at each use.
#[derive(Sequential)]
struct Net {
    act: Relu,
    name: String,
}

fn run(layer: &mut dyn Layer) -> Tensor {
    layer.forward(Tensor::zeros(vec![1, 2]), Mode::Eval)
}

fn count<L: Layer>(layer: &mut L) -> usize {
    nn::param_count(layer)
}

fn main() {
    let mut net = Net {
        act: Relu::new(),
        name: String::new(),
    };
    let y = net.forward(Tensor::zeros(vec![1, 2]), Mode::Train);
    let _ = net.backward(y);
    let _ = run(&mut net);
    let _ = count(&mut net);
    println!("{}", nn::summary(&mut net, &[1, 2]));
}
