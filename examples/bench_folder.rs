//! Benchmark: how fast an image folder feeds batches, decoded lazily per batch (on nn's
//! threads) or from the memory cache, without training; and how long opening takes.
//!
//! ```sh
//! cargo run --release --example digit_folder -- --out /tmp/digits --per-class 800
//! cargo run --release --example bench_folder -- --data-dir /tmp/digits/train --size 28
//! ```
//!
//! Prints one line per storage, then `lazy_samples_per_s=<f> memory_samples_per_s=<f>`.

use clap::Parser;
use nn::data::{Batches, DataSource, ImageFolder, Storage};
use std::path::PathBuf;
use std::time::Instant;

/// Times batches of an image folder filled lazily and from memory.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    /// A folder of pictures, one sub-folder per class
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Side of the square the pictures are resized to
    #[arg(long, value_name = "N", default_value_t = 28)]
    size: usize,
    /// Samples per batch
    #[arg(long, value_name = "N", default_value_t = 100)]
    batch_size: usize,
    /// Threads for nn's kernels
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: usize,
    /// Passes over the folder (the median is reported)
    #[arg(long, value_name = "N", default_value_t = 3)]
    rounds: usize,
}

fn main() -> nn::Result<()> {
    let cli = Cli::parse();
    nn::set_num_threads(cli.threads.max(1));
    let mut rates = Vec::new();
    for storage in [Storage::Lazy, Storage::Memory] {
        let start = Instant::now();
        let folder = ImageFolder::options(cli.size, cli.size)
            .storage(storage)
            .open(&cli.data_dir)?;
        let open_s = start.elapsed().as_secs_f64();
        let mut seconds = Vec::new();
        let mut batches = Batches::new(&folder, cli.batch_size).shuffled(1).training(true);
        for _ in 0..cli.rounds.max(1) {
            let start = Instant::now();
            while batches.next_batch()?.is_some() {}
            seconds.push(start.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        let median = seconds[seconds.len() / 2];
        let rate = folder.len() as f64 / median;
        println!(
            "{storage:?}: {} pictures of {:?}, opened in {open_s:.2} s; one pass in batches of {}: \
             {median:.3} s median of {}, {rate:.0} samples/s ({} threads)",
            folder.len(),
            folder.input_shape(),
            cli.batch_size,
            seconds.len(),
            cli.threads
        );
        rates.push(rate);
    }
    println!(
        "lazy_samples_per_s={:.0} memory_samples_per_s={:.0}",
        rates[0], rates[1]
    );
    Ok(())
}
