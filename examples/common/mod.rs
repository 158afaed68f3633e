//! Code shared by the examples: flag parsing and the data flags every example takes.
#![allow(dead_code)] // each example uses a different part

pub mod cli;
