//! A fuzzer for nn's parsers of untrusted bytes and its image layers, on stable Rust:
//! `idx::decode` (dataset files), `nn::load` (checkpoints), `Optimizer::load_state` (saved
//! optimizer state), `vision::decode_bytes` (PNG and JPEG pictures), `ImageFolder::open` (a
//! folder holding a mutated picture, opened and read as a batch), and random
//! Conv2d/MaxPool2d/AvgPool2d configurations against a direct f64 reference.
//!
//! Each round of a parser takes a valid input, mutates it (bit flips, interesting integers and
//! numbers, cuts, splices, duplicated chunks) and checks the rules nn promises for bad input:
//! - no panic (each call runs under `catch_unwind`);
//! - no allocation out of proportion to the input (a counting global allocator records the peak
//!   of each call; decoding may not ask for more than 64× the input plus 1 MiB; pictures are
//!   decoded reduced, or within small limits, so what they may hold is that too, but for a
//!   JPEG, whose pixels are held whole: at most 3 samples of 256 pixels per byte, 768×, a
//!   progressive file's coefficients, 2 bytes per sample of each component, and the decoder's
//!   buffers of one row of blocks, 1 KiB per column);
//! - a failed `nn::load` or `load_state` leaves the model and the optimizer as they were;
//! - what `nn::load` accepts is finite, and a state `load_state` accepts steps to finite weights
//!   or refuses the step, changing nothing (no silent NaN);
//! - a decoded picture has the size asked for; an image folder that opens gives batches of its
//!   shape with pixels in [0, 1], and one that does not is an error naming the bad file.
//!
//! Each round of the image layers checks a random valid configuration against the reference
//! (forward, input gradient, parameter gradients), or an absurd one (a 2^32 kernel, padding
//! 2^62), which must be refused by a panic naming the layer.
//!
//! ```sh
//! cargo run --release --example fuzz -- --seconds 60 [--seed 1]
//! ```
//!
//! It prints executions and outcomes per target and exits with code 1 if any rule was broken,
//! printing the first offending input of each kind (hex, or text) so that it can become a test.

#[path = "common/mod.rs"]
mod common;

use clap::Parser;
use common::image_layers::Config;
use nn::data::idx::{self, IdxKind};
use nn::data::{FillContext, ImageFolder, Resize, Storage};
use nn::layer::for_each_param;
use nn::optim::OptimizerState;
use nn::prelude::*;
use nn::vision::{decode_bytes, Colour, DecodeOptions, Limits, Size};
use rand::Rng as _;
use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, keeping the live and peak byte counts of this process.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are only
// statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        // A refused request (null) holds no memory: layers ask for absurd buffers fallibly.
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was live before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// What one execution did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Accepted,
    Refused,
    Panicked,
    HugeAllocation,
    ChangedOnError,
    NonFiniteStep,
    /// A result differs from the reference computation.
    Wrong,
}

impl Outcome {
    const ALL: [Outcome; 7] = [
        Outcome::Accepted,
        Outcome::Refused,
        Outcome::Panicked,
        Outcome::HugeAllocation,
        Outcome::ChangedOnError,
        Outcome::NonFiniteStep,
        Outcome::Wrong,
    ];
    fn is_failure(self) -> bool {
        !matches!(self, Outcome::Accepted | Outcome::Refused)
    }
}

/// Counts per outcome, and the first input that broke each rule.
struct Tally {
    name: &'static str,
    counts: [u64; 7],
    first: Vec<(Outcome, Vec<u8>, String)>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Tally {
            name,
            counts: [0; 7],
            first: Vec::new(),
        }
    }
    fn record(&mut self, outcome: Outcome, input: &[u8], detail: impl FnOnce() -> String) {
        let i = Outcome::ALL.iter().position(|&o| o == outcome).expect("listed");
        self.counts[i] += 1;
        if outcome.is_failure() && !self.first.iter().any(|(o, _, _)| *o == outcome) {
            self.first.push((outcome, input.to_vec(), detail()));
        }
    }
    fn executions(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Interesting integers, little- and big-endian, for overwriting header fields.
const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7F,
    0xFF,
    0x8000,
    0xFFFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    0x7FFF_FFFF_FFFF_FFFF,
    u64::MAX,
];

/// Interesting numbers for JSON text.
const NUMBERS: [&str; 14] = [
    "0",
    "-1",
    "1e39",
    "-1e39",
    "1e30",
    "3.4e38",
    "1e-45",
    "4294967296",
    "18446744073709551615",
    "9223372036854775808",
    "2305843009213693951",
    "-0",
    "0.5",
    "1",
];

/// One random mutation (or a few) of `seed`.
fn mutate(seed: &[u8], rng: &mut StdRng, text: bool) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..=3) {
        let len = b.len().max(1);
        match rng.random_range(0..8) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] = [0u8, 0xFF, 0x7F, 0x80, b'0', b'9', b'-', b'"'][rng.random_range(0..8)];
            }
            2 if b.len() >= 8 => {
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let width = [1usize, 2, 4, 8][rng.random_range(0..4)].min(b.len());
                let at = rng.random_range(0..=b.len() - width);
                let bytes = if rng.random_bool(0.5) {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                b[at..at + width].copy_from_slice(&bytes[..width]);
            }
            3 => b.truncate(rng.random_range(0..len)),
            4 if !b.is_empty() => {
                let start = rng.random_range(0..b.len());
                let end = rng.random_range(start..=b.len().min(start + 64));
                let chunk = b[start..end].to_vec();
                let at = rng.random_range(0..=b.len());
                b.splice(at..at, chunk);
            }
            5 if !b.is_empty() => {
                let start = rng.random_range(0..b.len());
                let end = rng.random_range(start..=b.len().min(start + 64));
                b.drain(start..end);
            }
            _ if text => replace_number(&mut b, rng),
            _ => {}
        }
    }
    b
}

/// Replaces one number in JSON text with an interesting one.
fn replace_number(b: &mut Vec<u8>, rng: &mut StdRng) {
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| {
            (b[i].is_ascii_digit() || b[i] == b'-')
                && (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.'))
        })
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = starts[rng.random_range(0..starts.len())];
    let mut end = start + 1;
    while end < b.len() && (b[end].is_ascii_digit() || matches!(b[end], b'.' | b'e' | b'E' | b'-' | b'+')) {
        end += 1;
    }
    let number = NUMBERS[rng.random_range(0..NUMBERS.len())];
    b.splice(start..end, number.bytes());
}

/// Runs `f`, turning a panic into `Err(message)`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// A small network with every kind of tensor: weights, biases, BatchNorm parameters and buffers.
#[derive(Sequential)]
struct Net {
    fc1: Linear,
    bn1: BatchNorm,
    act1: Relu,
    fc2: Linear,
}

fn net() -> Net {
    let mut rng = seeded(7);
    Net {
        fc1: Linear::new(4, 3, Init::He, &mut rng),
        bn1: BatchNorm::new(3),
        act1: Relu::new(),
        fc2: Linear::new(3, 2, Init::He, &mut rng),
    }
}

/// Every parameter and buffer value of `net`, as bits.
fn fingerprint(net: &mut Net) -> Vec<u32> {
    let mut bits = Vec::new();
    for_each_param(net, |_, p| bits.extend(p.value.iter().map(|v| v.to_bits())));
    nn::for_each_buffer(net, |_, t| bits.extend(t.iter().map(|v| v.to_bits())));
    bits
}

/// Whether every parameter and buffer value of `net` is finite.
fn finite(net: &mut Net) -> bool {
    fingerprint(net)
        .iter()
        .all(|&bits| f32::from_bits(bits).is_finite())
}

/// One forward and backward on fixed data, leaving gradients for a step.
fn backward_once(net: &mut Net) {
    let x = Tensor::from_shape_fn(vec![5, 4], |ix| (ix[0] as f32 - 2.0) * 0.3 + ix[1] as f32 * 0.1);
    let mut loss = SoftmaxCrossEntropy::new();
    let y = net.forward(x, Mode::Train);
    loss.forward(y, Targets::Classes(&[0, 1, 1, 0, 1]));
    let g = loss.backward();
    net.backward(g);
}

fn optimizers() -> Vec<Box<dyn Optimizer>> {
    vec![
        Box::new(Sgd::new(0.1).with_weight_decay(1e-3)),
        Box::new(Momentum::new(0.01)),
        Box::new(Nesterov::new(0.01)),
        Box::new(AdaGrad::new(0.01)),
        Box::new(RmsProp::new(0.01).with_clip_grad_norm(1.0)),
        Box::new(Adam::new(1e-3)),
        Box::new(AdamW::new(1e-3)),
    ]
}

fn fuzz_idx(rng: &mut StdRng, deadline: Instant, tally: &mut Tally) {
    let mut pixels = vec![0u8; 6 * 28 * 28];
    rng.fill(&mut pixels[..]);
    let images = idx::encode(&[6, 28, 28], &pixels);
    let labels = idx::encode(&[6], &[3, 1, 4, 1, 5, 9]);
    let seeds = [
        (idx::gzip(&images), IdxKind::Images),
        (images, IdxKind::Images),
        (idx::gzip(&labels), IdxKind::Labels),
        (labels, IdxKind::Labels),
    ];
    while Instant::now() < deadline {
        let (seed, kind) = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate(seed, rng, false);
        let (result, peak) = peak_of(|| guarded(|| idx::decode(&input, *kind).is_ok()));
        let outcome = match result {
            Err(_) => Outcome::Panicked,
            _ if peak > 64 * input.len() + (1 << 20) => Outcome::HugeAllocation,
            Ok(true) => Outcome::Accepted,
            Ok(false) => Outcome::Refused,
        };
        tally.record(outcome, &input, || match &result {
            Err(message) => format!("panic: {message}"),
            Ok(_) => format!("peak allocation {peak} bytes for {} input bytes", input.len()),
        });
    }
}

fn fuzz_checkpoint(dir: &Path, rng: &mut StdRng, deadline: Instant, tally: &mut Tally) {
    let seed_path = dir.join("seed.safetensors");
    let mut model = net();
    backward_once(&mut model); // running statistics that are not the initial ones
    nn::save(&mut model, &seed_path).expect("saving the seed checkpoint");
    let seed = std::fs::read(&seed_path).expect("reading the seed checkpoint");
    let path = dir.join("mutant.safetensors");
    while Instant::now() < deadline {
        let input = mutate(&seed, rng, false);
        std::fs::write(&path, &input).expect("writing a mutant");
        let mut target = net();
        let before = fingerprint(&mut target);
        let (result, peak) = peak_of(|| guarded(|| nn::load(&mut target, &path).is_ok()));
        let outcome = match result {
            Err(_) => Outcome::Panicked,
            _ if peak > 64 * input.len() + (1 << 20) => Outcome::HugeAllocation,
            // What loads is finite: NaN, infinities and impossible buffers are refused.
            Ok(true) if !finite(&mut target) => Outcome::NonFiniteStep,
            Ok(true) => Outcome::Accepted,
            Ok(false) if fingerprint(&mut target) != before => Outcome::ChangedOnError,
            Ok(false) => Outcome::Refused,
        };
        tally.record(outcome, &input, || match &result {
            Err(message) => format!("panic: {message}"),
            Ok(_) => format!("peak allocation {peak} bytes for {} input bytes", input.len()),
        });
    }
}

fn fuzz_optimizer_state(dir: &Path, rng: &mut StdRng, deadline: Instant, tally: &mut Tally) {
    // One seed per algorithm: its state after two steps.
    let mut seeds = Vec::new();
    for mut opt in optimizers() {
        let mut model = net();
        for _ in 0..2 {
            backward_once(&mut model);
            opt.step(&mut model).expect("a step on finite gradients");
        }
        let path = dir.join(format!("{}.json", opt.name()));
        opt.state().save_json(&path).expect("saving a seed state");
        seeds.push(std::fs::read(&path).expect("reading a seed state"));
    }
    let path = dir.join("mutant.json");
    while Instant::now() < deadline {
        let k = rng.random_range(0..seeds.len());
        let input = mutate(&seeds[k], rng, true);
        std::fs::write(&path, &input).expect("writing a mutant");
        let mut opt = optimizers().swap_remove(k);
        let mut model = net();
        backward_once(&mut model);
        let result = guarded(|| {
            let Ok(state) = OptimizerState::load_json(&path) else {
                return Outcome::Refused;
            };
            let before = opt.state();
            if opt.load_state(&state).is_err() {
                return if opt.state() == before {
                    Outcome::Refused
                } else {
                    Outcome::ChangedOnError
                };
            }
            // Accepted: the next step gives finite weights, or refuses and changes nothing,
            // whatever the state's values and settings (the step after a restore is a trial).
            let weights = fingerprint(&mut model);
            match opt.step(&mut model) {
                Err(_) if fingerprint(&mut model) != weights => Outcome::ChangedOnError,
                Err(_) => Outcome::Accepted,
                Ok(()) => {
                    let mut finite = true;
                    for_each_param(&mut model, |_, p| finite &= p.value.iter().all(|v| v.is_finite()));
                    if finite {
                        Outcome::Accepted
                    } else {
                        Outcome::NonFiniteStep
                    }
                }
            }
        });
        let outcome = result.clone().unwrap_or(Outcome::Panicked);
        tally.record(outcome, &input, || match &result {
            Err(message) => format!("panic: {message}"),
            Ok(_) => format!("{outcome:?}"),
        });
    }
}

/// Random valid Conv2d, MaxPool2d and AvgPool2d configurations against the f64 reference, and
/// one in ten with an absurd size, which must run or panic naming the layer (never wrap around,
/// abort on allocation or panic elsewhere).
fn fuzz_image_layers(rng: &mut StdRng, deadline: Instant, tally: &mut Tally) {
    while Instant::now() < deadline {
        let absurd = rng.random_bool(0.1);
        let config = if absurd {
            Config::absurd(rng)
        } else {
            Config::random(rng)
        };
        let (result, peak) = peak_of(|| {
            guarded(|| {
                if absurd {
                    config.run(rng);
                    Ok(())
                } else {
                    config.check(rng)
                }
            })
        });
        let outcome = match &result {
            Err(message) if message.starts_with(config.layer_name()) => Outcome::Refused,
            Err(_) => Outcome::Panicked,
            _ if peak > LAYER_PEAK => Outcome::HugeAllocation,
            Ok(Err(_)) => Outcome::Wrong,
            Ok(Ok(())) => Outcome::Accepted,
        };
        let text = format!("{config:?}");
        tally.record(outcome, text.as_bytes(), || match &result {
            Err(message) => format!("panic: {message}"),
            Ok(Err(difference)) => difference.clone(),
            Ok(Ok(())) => format!("peak allocation {peak} bytes"),
        });
    }
}

/// Valid PNGs to mutate: the committed pictures of digits (palette, 16-bit, grey and alpha,
/// RGBA, RGB) and small encodings of the other layouts (1-bit grey, a colour key, a palette
/// with transparency).
fn picture_seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/digits");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("the committed pictures")
        .map(|entry| std::fs::read(entry.expect("a directory entry").path()).expect("a picture"))
        .collect();
    let encode = |(w, h): (u32, u32),
                  colour,
                  depth,
                  palette: Option<Vec<u8>>,
                  trns: Option<Vec<u8>>,
                  data: Vec<u8>| {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, w, h);
        encoder.set_color(colour);
        encoder.set_depth(depth);
        if let Some(p) = palette {
            encoder.set_palette(p);
        }
        if let Some(t) = trns {
            encoder.set_trns(t);
        }
        let mut writer = encoder.write_header().expect("a header");
        writer.write_image_data(&data).expect("image data");
        writer.finish().expect("a whole file");
        bytes
    };
    use png::{BitDepth, ColorType};
    seeds.push(encode(
        (13, 7),
        ColorType::Grayscale,
        BitDepth::One,
        None,
        None,
        vec![0x5a; 14],
    ));
    seeds.push(encode(
        (5, 4),
        ColorType::Rgb,
        BitDepth::Eight,
        None,
        Some(vec![0, 9, 0, 9, 0, 9]),
        (0..60).collect(),
    ));
    let palette = (0..12).map(|i| i * 20).collect();
    seeds.push(encode(
        (9, 3),
        ColorType::Indexed,
        BitDepth::Two,
        Some(palette),
        Some(vec![0, 128]),
        vec![0x1b; 9],
    ));
    // JPEGs: grey and colour (4:2:0 below quality 90), baseline and progressive.
    for (colour, channels, quality, progressive) in [
        (jpeg_encoder::ColorType::Luma, 1, 90, false),
        (jpeg_encoder::ColorType::Rgb, 3, 75, false),
        (jpeg_encoder::ColorType::Rgb, 3, 95, true),
    ] {
        let (w, h) = (19u16, 11u16);
        let samples = usize::from(w) * usize::from(h) * channels;
        let data: Vec<u8> = (0..samples).map(|i| (i * 37 % 251) as u8).collect();
        let mut bytes = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
        encoder.set_progressive(progressive);
        encoder.encode(&data, w, h, colour).expect("a JPEG");
        seeds.push(bytes);
    }
    seeds
}

/// Whether `bytes` start as a JPEG file.
fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xff, 0xd8, 0xff])
}

/// What decoding `input` may hold at its peak: 64× the input plus 1 MiB, or for a JPEG, whose
/// pixels come whole and which must hold a byte per 256 pixels it declares:
/// - its pixels, at most 3 samples of 256 pixels per byte, 768×;
/// - a progressive file's coefficients, kept until its last scan: 2 bytes per sample of up to 4
///   components, over pixels padded to whole blocks of up to 32×32 (a 1,631-byte file declaring
///   19×12,299 pixels held 1.77 MB of them beside 0.70 MB of pixels);
/// - zune-jpeg's buffers for one row of blocks (up to 32 pixel rows of up to 4 components, in
///   16-bit samples, several copies), 1 KiB per column whatever the height (a 904-byte file
///   declaring 12,307×11 pixels held 2.5 MB).
fn picture_allowance(input: &[u8]) -> usize {
    if is_jpeg(input) {
        let (width, height) = jpeg_size(input);
        let padded = 256 * input.len() + 32 * (width + height) + 1024;
        768 * input.len() + 8 * padded + 1024 * width + (1 << 20)
    } else {
        64 * input.len() + (1 << 20)
    }
}

/// The widest and the tallest picture the start-of-frame segments in the JPEG `bytes` declare
/// (0 if none).
fn jpeg_size(bytes: &[u8]) -> (usize, usize) {
    // FF Cn (but C4, C8, CC, which are not frames), length, precision, height, width.
    let frames = bytes
        .windows(9)
        .filter(|w| w[0] == 0xff && matches!(w[1], 0xc0..=0xcf) && !matches!(w[1], 0xc4 | 0xc8 | 0xcc));
    frames.fold((0, 0), |(width, height), w| {
        let side = |at: usize| usize::from(u16::from_be_bytes([w[at], w[at + 1]]));
        (width.max(side(7)), height.max(side(5)))
    })
}

fn fuzz_pictures(rng: &mut StdRng, deadline: Instant, tally: &mut Tally) {
    let seeds = picture_seeds();
    let limits = Limits {
        max_side: 4096,
        max_pixels: 1 << 16,
    };
    let options = [
        DecodeOptions::new(Colour::Grey).limits(limits),
        DecodeOptions::new(Colour::Rgb).size(Size::Within(16)),
        DecodeOptions::new(Colour::Grey).size(Size::Exact { width: 8, height: 8 }),
        DecodeOptions::new(Colour::Rgb).size(Size::Exact { width: 40, height: 3 }),
    ];
    while Instant::now() < deadline {
        let input = mutate(&seeds[rng.random_range(0..seeds.len())], rng, false);
        let options = &options[rng.random_range(0..options.len())];
        let (result, peak) = peak_of(|| guarded(|| decode_bytes(&input, options)));
        let outcome = match &result {
            Err(_) => Outcome::Panicked,
            _ if peak > picture_allowance(&input) => Outcome::HugeAllocation,
            Ok(Ok(p)) if p.pixels.len() != p.width * p.height * p.colour.channels() => Outcome::Wrong,
            Ok(Ok(_)) => Outcome::Accepted,
            Ok(Err(_)) => Outcome::Refused,
        };
        tally.record(outcome, &input, || match &result {
            Err(message) => format!("panic: {message}"),
            Ok(_) => format!("peak allocation {peak} bytes for {} input bytes", input.len()),
        });
    }
}

/// A folder `dir/a/x.png` (the mutated picture, PNG or JPEG whatever its name says) beside a
/// good `dir/b/y.png`, opened with random options and read as one batch: it opens and gives
/// pixels in [0, 1] of its shape, or fails naming the picture.
fn fuzz_image_folder(dir: &Path, rng: &mut StdRng, deadline: Instant, tally: &mut Tally) {
    let seeds = picture_seeds();
    let root = dir.join("folder");
    for class in ["a", "b"] {
        std::fs::create_dir_all(root.join(class)).expect("the class folders");
    }
    std::fs::write(root.join("b/y.png"), &seeds[0]).expect("the good picture");
    let limits = Limits {
        max_side: 4096,
        max_pixels: 1 << 16,
    };
    while Instant::now() < deadline {
        let input = mutate(&seeds[rng.random_range(0..seeds.len())], rng, false);
        std::fs::write(root.join("a/x.png"), &input).expect("writing the picture");
        let side = rng.random_range(1..20usize);
        let mut options = ImageFolder::options(side, side)
            .limits(limits)
            .resize(if rng.random_bool(0.5) {
                Resize::Pad
            } else {
                Resize::Stretch
            })
            .storage(if rng.random_bool(0.5) {
                Storage::Lazy
            } else {
                Storage::Memory
            })
            .skip_bad_files(rng.random_bool(0.3));
        match rng.random_range(0..3) {
            0 => options = options.colour(Colour::Grey),
            1 => options = options.colour(Colour::Rgb),
            _ => {}
        }
        let (result, peak) = peak_of(|| {
            guarded(|| -> nn::Result<Vec<f32>> {
                let folder = options.open(&root)?;
                let mut batch = nn::Batch::new();
                let all: Vec<usize> = (0..folder.len()).collect();
                folder.fill(&all, &mut batch, FillContext::eval())?;
                let shape_ok = batch.inputs.shape()[1..] == *folder.input_shape()
                    && folder.input_shape()[1..] == [side, side];
                Ok(if shape_ok {
                    batch.inputs.iter().copied().collect()
                } else {
                    vec![f32::NAN]
                })
            })
        });
        let outcome = match &result {
            Err(_) => Outcome::Panicked,
            _ if peak > picture_allowance(&input) + (1 << 20) => Outcome::HugeAllocation,
            Ok(Ok(v)) if v.iter().any(|x| !(0.0..=1.0).contains(x)) => Outcome::Wrong,
            Ok(Ok(_)) => Outcome::Accepted,
            Ok(Err(e)) if !e.to_string().contains("x.png") => Outcome::Wrong,
            Ok(Err(_)) => Outcome::Refused,
        };
        tally.record(outcome, &input, || match &result {
            Err(message) => format!("panic: {message}"),
            Ok(Err(e)) => format!("an error not naming the picture: {e}"),
            Ok(Ok(_)) => format!("peak allocation {peak} bytes, or a batch of the wrong shape or range"),
        });
    }
}

/// The most an image layer may allocate on the fuzzer's small inputs; the absurd configurations
/// ask for terabytes, which the layer must request fallibly and refuse.
const LAYER_PEAK: usize = 256 << 20;

fn scratch_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("nn-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the scratch directory");
    dir
}

/// Fuzzes idx::decode, nn::load, Optimizer::load_state, vision::decode_bytes, the image layers
/// and ImageFolder::open; exits 1 if a rule was broken.
#[derive(Parser)]
#[command(name = env!("CARGO_CRATE_NAME"), version)]
struct Cli {
    /// Seconds of fuzzing, shared equally by the six targets
    #[arg(long, value_name = "S", default_value_t = 60.0, value_parser = common::flags::positive_seconds, allow_hyphen_values = true)]
    seconds: f64,
    /// Seed of the mutations
    #[arg(long, value_name = "N", default_value_t = 1, allow_hyphen_values = true)]
    seed: u64,
}

fn main() {
    let Cli { seconds, seed } = Cli::parse();
    // Panics are expected outcomes to count, not output.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = scratch_dir();
    let share = Duration::from_secs_f64(seconds / 6.0);
    let mut rng = seeded(seed);
    let mut tallies = [
        Tally::new("idx::decode"),
        Tally::new("nn::load"),
        Tally::new("Optimizer::load_state"),
        Tally::new("vision::decode_bytes"),
        Tally::new("image layers"),
        Tally::new("ImageFolder::open"),
    ];
    let start = Instant::now();
    fuzz_idx(&mut rng, start + share, &mut tallies[0]);
    fuzz_checkpoint(&dir, &mut rng, start + 2 * share, &mut tallies[1]);
    fuzz_optimizer_state(&dir, &mut rng, start + 3 * share, &mut tallies[2]);
    fuzz_pictures(&mut rng, start + 4 * share, &mut tallies[3]);
    fuzz_image_layers(&mut rng, start + 5 * share, &mut tallies[4]);
    fuzz_image_folder(&dir, &mut rng, start + 6 * share, &mut tallies[5]);
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "{:<24}{:>12}{:>10}{:>10}{:>8}{:>11}{:>10}{:>10}{:>8}",
        "target",
        "executions",
        "accepted",
        "refused",
        "panics",
        "huge_alloc",
        "changed",
        "nonfinite",
        "wrong"
    );
    let mut failures = 0;
    for t in &tallies {
        let c = t.counts;
        println!(
            "{:<24}{:>12}{:>10}{:>10}{:>8}{:>11}{:>10}{:>10}{:>8}",
            t.name,
            t.executions(),
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6]
        );
        for (outcome, input, detail) in &t.first {
            failures += 1;
            // JSON is shown as text, binary formats as hex: either is enough to write a test.
            let hex: String = match std::str::from_utf8(input) {
                Ok(text) if t.name.contains("load_state") || t.name.contains("layers") => text.to_string(),
                _ => input.iter().take(4096).map(|b| format!("{b:02x}")).collect(),
            };
            println!(
                "  first {outcome:?} in {}: {detail}\n    input ({} bytes): {hex}",
                t.name,
                input.len()
            );
        }
    }
    let total: u64 = tallies.iter().map(Tally::executions).sum();
    println!(
        "fuzz: {total} executions in {:.0} s (seed {seed}), {failures} kinds of failure",
        start.elapsed().as_secs_f64()
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
