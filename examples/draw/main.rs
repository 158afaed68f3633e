//! Draw a digit and watch a trained network read it: a page on 127.0.0.1 with a canvas (mouse,
//! finger or pen), live bars of the ten probabilities, and the 28x28 image the network sees
//! after nn's MNIST preprocessing. Predictions run here, with nn.
//!
//! ```sh
//! cargo run --release --example draw -- --model examples/models/mlp_mnist10k.safetensors
//! # then open http://127.0.0.1:8000/
//! cargo run --release --example draw -- --model out/cnn_mnist/model.safetensors --arch cnn --port 8001
//! ```
//!
//! `POST /predict` takes the drawing as PNG bytes (`Content-Type: image/png`, at most 1 MiB) and
//! answers JSON `{"probabilities": [10 numbers], "digit": [784 numbers], "predicted": k}`; a
//! bad request gets a 4xx status with `{"error": "..."}`. Each request is logged with its time.

#[path = "../common/mod.rs"]
mod common;
mod http;
mod server;

use clap::Parser;
use common::flags::ModelFlags;
use std::net::{Ipv4Addr, TcpListener};

/// Serves a page where you draw a digit and see what a trained network makes of it.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    #[command(flatten)]
    model: ModelFlags,
    /// Port on 127.0.0.1 (0: any free port)
    #[arg(long, value_name = "N", default_value_t = 8000)]
    port: u16,
    /// Predictions made at once, each with its own copy of the network
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = common::flags::at_least_one)]
    workers: usize,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(&cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let ModelFlags { model, arch } = &cli.model;
    let predictors = (0..cli.workers)
        .map(|_| common::nets::load(arch, model).map(|net| server::Predictor { net }))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    // Loopback only: the page is for the person at this machine.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, cli.port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", cli.port))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let server = server::spawn(listener, predictors, true);
    println!("{} ({arch}) on http://{address}/", model.display());
    let _ = server.join();
    Ok(())
}
