use nn::prelude::*;

#[derive(Sequential)]
struct Net;

fn main() {}
