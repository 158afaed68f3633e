use nn::prelude::*;

#[derive(Sequential)]
union Net {
    a: u32,
    b: f32,
}

fn main() {}
