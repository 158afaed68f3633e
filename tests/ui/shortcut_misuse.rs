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

// The shortcut is added to the output of the fields before it: it cannot come first.
#[derive(Sequential)]
struct First {
    #[sequential(shortcut)]
    downsample: Option<Id>,
    conv: Id,
}

// After skipped fields only, it still has no body.
#[derive(Sequential)]
struct AfterSkipped {
    #[sequential(skip)]
    width: usize,
    #[sequential(shortcut)]
    downsample: Id,
}

// One shortcut per block.
#[derive(Sequential)]
struct Two {
    conv1: Id,
    #[sequential(shortcut)]
    a: Id,
    conv2: Id,
    #[sequential(shortcut)]
    b: Id,
}

// A skipped field takes no part in forward; the forms of the argument are those of `skip`.
#[derive(Sequential)]
struct Forms {
    conv: Id,
    #[sequential(skip, shortcut)]
    a: Id,
    #[sequential(shortcut = true)]
    b: Id,
    #[sequential(shortcut, shortcut)]
    c: Id,
    #[sequential(shortcut(x))]
    d: Id,
}

fn main() {}
