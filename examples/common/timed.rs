//! A stopwatch around a layer, for the benchmarks' per-layer profiles, and the median of timings.

use nn::layer::Visitor;
use nn::{Layer, Mode, Tensor};
use std::time::{Duration, Instant};

/// A layer with a stopwatch: forward and backward times add up while `on`. Parameters and
/// buffers keep the inner layer's names (`fc1.weight`), so a network of timed layers is the
/// same network.
pub struct Timed<L> {
    pub layer: L,
    pub on: bool,
    pub forward: Duration,
    pub backward: Duration,
}

/// The profile rows of a benchmark's network: each timed layer's name (`conv1`, or `3.conv1`
/// inside a block) with its forward and backward time.
pub type Rows = Vec<(String, Duration, Duration)>;

impl<L> Timed<L> {
    pub fn new(layer: L) -> Self {
        Timed {
            layer,
            on: false,
            forward: Duration::ZERO,
            backward: Duration::ZERO,
        }
    }

    /// The forward and backward time so far; zeroes them and switches the stopwatch on or off.
    pub fn reset(&mut self, on: bool) -> (Duration, Duration) {
        self.on = on;
        let times = (self.forward, self.backward);
        (self.forward, self.backward) = (Duration::ZERO, Duration::ZERO);
        times
    }
}

impl<L: Layer> Layer for Timed<L> {
    fn forward(&mut self, x: Tensor, mode: Mode) -> Tensor {
        let start = self.on.then(Instant::now);
        let y = self.layer.forward(x, mode);
        if let Some(start) = start {
            self.forward += start.elapsed();
        }
        y
    }
    fn backward(&mut self, grad: Tensor) -> Tensor {
        let start = self.on.then(Instant::now);
        let g = self.layer.backward(grad);
        if let Some(start) = start {
            self.backward += start.elapsed();
        }
        g
    }
    fn visit(&mut self, v: &mut Visitor<'_>) {
        self.layer.visit(v)
    }
    fn type_name(&self) -> String {
        self.layer.type_name()
    }
}

/// Each named layer's forward and backward time so far; zeroes the timers and switches them on
/// or off. `timers!(net, on; fc1, bn1, ...)`, or `timers!(net, on; 0, 1, ...)` for a tuple struct.
#[macro_export]
macro_rules! timers {
    ($net:expr, $on:expr; $($f:tt),*) => {{
        let rows: $crate::common::timed::Rows = vec![$({
            let (forward, backward) = $net.$f.reset($on);
            (stringify!($f).to_string(), forward, backward)
        }),*];
        rows
    }};
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Inference as the benchmarks time it: `rounds` Eval forwards of all of `data` as a single
/// batch; returns the accuracy (the same every round) and the seconds of each. Each input is
/// made before its clock starts (forward consumes its input), and one at a time is alive, so
/// the peak memory is the network's rather than copies of the input.
pub fn time_inference(net: &mut impl Layer, data: &nn::data::Dataset, rounds: usize) -> (f32, Vec<f64>) {
    let mut accuracy = f32::NAN;
    let seconds = (0..rounds)
        .map(|round| {
            let input = data.to_tensor();
            let start = Instant::now();
            let scores = net.forward(input, Mode::Eval);
            let s = start.elapsed().as_secs_f64();
            if round == 0 {
                let labels = data.labels().expect("the benchmarks' sets are labelled");
                accuracy = nn::accuracy(&scores, nn::Targets::Classes(labels));
            }
            s
        })
        .collect();
    (accuracy, seconds)
}
