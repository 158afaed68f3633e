use nn::prelude::*;

#[derive(Sequential)]
struct Net {
    #[sequential(skip)]
    name: String,
    #[sequential(skip)]
    steps: u32,
}

fn main() {}
