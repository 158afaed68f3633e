use nn::prelude::*;

#[derive(Sequential)]
struct Named {}

#[derive(Sequential)]
struct Tuple();

fn main() {}
