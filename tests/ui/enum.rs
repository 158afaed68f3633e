use nn::prelude::*;

#[derive(Sequential)]
enum Net {
    Small,
    Large,
}

fn main() {}
