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

// One mistake each. The derive still makes each type a `Layer`, so the code below that uses
// them as layers adds no error: the build reports the three mistakes and nothing else.
#[derive(Sequential)]
struct Net {
    #[sequential(skp)]
    a: Id,
    b: Id,
}

#[derive(Sequential)]
#[sequential(skip)]
struct Wrap<L>
where
    L: Clone,
{
    inner: L,
}

#[derive(Sequential)]
enum Choice {
    Small(Id),
    Large(Id, Id),
}

fn run(layer: &mut dyn Layer) -> Tensor {
    layer.forward(Tensor::zeros(vec![1, 2]), Mode::Eval)
}

fn count<L: Layer>(layer: &mut L) -> usize {
    nn::param_count(layer)
}

fn main() {
    let mut net = Net { a: Id, b: Id };
    let y = net.forward(Tensor::zeros(vec![1, 2]), Mode::Train);
    let _ = net.backward(y);
    let _ = run(&mut net);
    println!("{}", nn::summary(&mut net, &[1, 2]));

    let mut wrap = Wrap { inner: 1.5f32 };
    let _ = count(&mut wrap);
    let _ = run(&mut wrap);

    let _ = count(&mut Choice::Small(Id));
    let _ = run(&mut Choice::Large(Id, Id));
}
