//! Reducing a picture while it is decoded: rows of samples summed into blocks of `factor` ×
//! `factor` pixels, so that only the reduced picture is ever held; then, for an exact size, area
//! averaging from the blocks to the pixels asked for.

use super::decode::Size;
use super::error::ImageError;

/// The largest block side summed while decoding: its sums of 8-bit samples (at most
/// 4096² × 255) fit a `u32`. A picture more than 4096 times its requested size is reduced the
/// rest of the way by area averaging.
const MAX_FACTOR: usize = 4096;

/// The geometry of a decode: the stored size, the block side summed while decoding, and the
/// size asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub width: usize,
    pub height: usize,
    pub factor: usize,
    /// The size of the picture returned.
    pub out: (usize, usize),
}

impl Plan {
    /// The plan for a `width` × `height` picture decoded to `size` (both sides at least 1).
    pub fn new(width: usize, height: usize, size: Size) -> Plan {
        let (factor, out) = match size {
            Size::Original => (1, (width, height)),
            Size::Within(side) => {
                let k = width.max(height).div_ceil(side.max(1)).max(1);
                (k, (width.div_ceil(k), height.div_ceil(k)))
            }
            Size::Exact { width: w, height: h } => (
                (width / w.max(1)).min(height / h.max(1)).max(1),
                (w.max(1), h.max(1)),
            ),
        };
        Plan {
            width,
            height,
            factor: factor.min(MAX_FACTOR),
            out,
        }
    }

    /// The size of the blocks' picture, summed while decoding.
    pub fn blocks(&self) -> (usize, usize) {
        (
            self.width.div_ceil(self.factor),
            self.height.div_ceil(self.factor),
        )
    }
}

/// The reduced picture under construction: the blocks' sums, or, unreduced, the samples
/// themselves (a quarter of the memory).
pub(crate) struct Reducer {
    plan: Plan,
    channels: usize,
    store: Store,
}

enum Store {
    Samples(Vec<u8>),
    Sums(Vec<u32>),
}

impl Reducer {
    /// An empty reduction of `channels`-sample pixels by `plan`. Fails if the allocator refuses
    /// the blocks' sums (an `Original` size within generous limits can still be gigabytes).
    pub fn new(plan: Plan, channels: usize) -> Result<Reducer, ImageError> {
        let (bw, bh) = plan.blocks();
        let len = bw.checked_mul(bh).and_then(|n| n.checked_mul(channels));
        let refused = || ImageError::TooLarge {
            width: plan.width as u64,
            height: plan.height as u64,
            limit: format!("the memory available for its {bw}×{bh} decoded pixels ({channels} samples each)"),
        };
        let len = len.ok_or_else(refused)?;
        let store = if plan.factor == 1 {
            let mut samples = Vec::new();
            samples.try_reserve_exact(len).map_err(|_| refused())?;
            samples.resize(len, 0);
            Store::Samples(samples)
        } else {
            let mut sums = Vec::new();
            sums.try_reserve_exact(len).map_err(|_| refused())?;
            sums.resize(len, 0);
            Store::Sums(sums)
        };
        Ok(Reducer {
            plan,
            channels,
            store,
        })
    }

    /// Adds `samples`, pixels of picture row `y` at columns `x0`, `x0 + step`, `x0 + 2 step`, …
    /// (an Adam7 pass fills every `step`-th column; a plain row has `x0 = 0`, `step = 1`).
    pub fn add_row(&mut self, y: usize, x0: usize, step: usize, samples: &[u8]) {
        let (k, ch) = (self.plan.factor, self.channels);
        let bw = self.plan.blocks().0;
        let sums = match &mut self.store {
            Store::Samples(pixels) => {
                let row = &mut pixels[y * bw * ch..][..bw * ch];
                for (i, pixel) in samples.chunks_exact(ch).enumerate() {
                    row[(x0 + i * step) * ch..][..ch].copy_from_slice(pixel);
                }
                return;
            }
            Store::Sums(sums) => sums,
        };
        let row = &mut sums[(y / k) * bw * ch..][..bw * ch];
        if step == 1 && x0 == 0 {
            for (block, pixels) in row.chunks_exact_mut(ch).zip(samples.chunks(k * ch)) {
                for (c, sum) in block.iter_mut().enumerate() {
                    *sum += pixels
                        .iter()
                        .skip(c)
                        .step_by(ch)
                        .map(|&s| u32::from(s))
                        .sum::<u32>();
                }
            }
            return;
        }
        for (i, pixel) in samples.chunks_exact(ch).enumerate() {
            let block = (x0 + i * step) / k;
            for (sum, &s) in row[block * ch..][..ch].iter_mut().zip(pixel) {
                *sum += u32::from(s);
            }
        }
    }

    /// The picture asked for: each block's mean, then area averaging to an exact size.
    pub fn finish(self) -> Vec<u8> {
        let Reducer {
            plan,
            channels,
            store,
        } = self;
        let (k, (bw, bh)) = (plan.factor, plan.blocks());
        let means = match store {
            Store::Samples(pixels) => pixels,
            Store::Sums(sums) => {
                let mut means = Vec::with_capacity(sums.len());
                for by in 0..bh {
                    let rows = k.min(plan.height - by * k) as u32;
                    for bx in 0..bw {
                        let count = rows * k.min(plan.width - bx * k) as u32;
                        let cell = &sums[(by * bw + bx) * channels..][..channels];
                        means.extend(cell.iter().map(|&s| ((s + count / 2) / count) as u8));
                    }
                }
                means
            }
        };
        if (bw, bh) == plan.out {
            return means;
        }
        resample(&means, &plan, channels)
    }
}

/// Area averaging from the blocks' means (block `j` covering picture pixels
/// `j k .. min((j + 1) k, n)`) to `plan.out`: each output pixel the mean over the part of the
/// picture it covers, each block taken as uniform.
fn resample(means: &[u8], plan: &Plan, channels: usize) -> Vec<u8> {
    let (bw, _) = plan.blocks();
    let (ow, oh) = plan.out;
    let columns = weights(plan.width, plan.factor, ow);
    let rows = weights(plan.height, plan.factor, oh);
    let mut out = Vec::with_capacity(ow * oh * channels);
    for row in &rows {
        for column in &columns {
            for c in 0..channels {
                let mut v = 0.0f64;
                for &(by, wy) in row {
                    for &(bx, wx) in column {
                        v += wy * wx * f64::from(means[(by * bw + bx) * channels + c]);
                    }
                }
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

/// For each of `out` output pixels along an axis of `n` picture pixels held in blocks of
/// `block`: the blocks it covers and the share of it each covers (the shares sum to 1).
fn weights(n: usize, block: usize, out: usize) -> Vec<Vec<(usize, f64)>> {
    let scale = n as f64 / out as f64;
    (0..out)
        .map(|o| {
            let (start, end) = (o as f64 * scale, ((o + 1) as f64 * scale).min(n as f64));
            let first = (start / block as f64).floor() as usize;
            let last = ((end / block as f64).ceil() as usize).min(n.div_ceil(block));
            (first..last)
                .map(|j| {
                    let (lo, hi) = ((j * block) as f64, (((j + 1) * block).min(n)) as f64);
                    (j, (end.min(hi) - start.max(lo)).max(0.0) / (end - start))
                })
                .filter(|&(_, w)| w > 0.0)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reduces a grey `width` × `height` picture given as a function of (x, y) by `size`.
    fn reduce(width: usize, height: usize, size: Size, f: impl Fn(usize, usize) -> u8) -> (Plan, Vec<u8>) {
        let plan = Plan::new(width, height, size);
        let mut r = Reducer::new(plan, 1).unwrap();
        for y in 0..height {
            let row: Vec<u8> = (0..width).map(|x| f(x, y)).collect();
            r.add_row(y, 0, 1, &row);
        }
        (plan, r.finish())
    }

    #[test]
    fn blocks_average_what_they_cover_and_partial_blocks_only_that() {
        // 5x3 within 2: factor 3, blocks 2x1; the second block covers 2 columns only.
        let (plan, pixels) = reduce(5, 3, Size::Within(2), |x, _| if x < 3 { 30 } else { 90 });
        assert_eq!((plan.factor, plan.out), (3, (2, 1)));
        assert_eq!(pixels, [30, 90]);
        let (plan, pixels) = reduce(4, 4, Size::Within(2), |x, y| (x + 4 * y) as u8 * 10);
        assert_eq!(plan.factor, 2);
        // Means of {0,10,40,50}, {20,30,60,70}, {80,90,120,130}, {100,110,140,150}.
        assert_eq!(pixels, [25, 45, 105, 125]);
        // Already within: unchanged.
        let (_, pixels) = reduce(3, 2, Size::Within(8), |x, y| (x * 3 + y) as u8);
        assert_eq!(pixels, [0, 3, 6, 1, 4, 7]);
    }

    #[test]
    fn an_exact_size_is_the_area_average() {
        // 6 columns to 4: output pixel o covers [1.5 o, 1.5 (o + 1)).
        let (plan, pixels) = reduce(6, 1, Size::Exact { width: 4, height: 1 }, |x, _| {
            [0, 60, 120, 180, 240, 60][x]
        });
        assert_eq!(plan.factor, 1);
        // (0 + 0.5 * 60) / 1.5, (0.5 * 60 + 120) / 1.5, (180 + 0.5 * 240) / 1.5, (0.5 * 240 + 60) / 1.5
        assert_eq!(pixels, [20, 100, 200, 120]);
        // Enlarging repeats pixels, blending at fractional edges.
        let (_, pixels) = reduce(2, 1, Size::Exact { width: 4, height: 2 }, |x, _| [0, 200][x]);
        assert_eq!(pixels, [0, 0, 200, 200, 0, 0, 200, 200]);
        // Through blocks: 9x9 to 2x2 sums blocks of 4, then averages 2.25 blocks per pixel.
        let direct = |x: usize, y: usize| ((x * 7 + y * 13) % 256) as u8;
        let (plan, pixels) = reduce(9, 9, Size::Exact { width: 2, height: 2 }, direct);
        assert_eq!(plan.factor, 4);
        let mean = |xs: std::ops::Range<f64>, ys: std::ops::Range<f64>| {
            // The exact area average over [xs) x [ys), pixels as unit squares.
            let mut s = 0.0;
            for y in 0..9 {
                for x in 0..9 {
                    let ox = (xs.end.min(x as f64 + 1.0) - xs.start.max(x as f64)).max(0.0);
                    let oy = (ys.end.min(y as f64 + 1.0) - ys.start.max(y as f64)).max(0.0);
                    s += ox * oy * f64::from(direct(x, y));
                }
            }
            s / ((xs.end - xs.start) * (ys.end - ys.start))
        };
        let exact = mean(0.0..4.5, 0.0..4.5);
        // Blocks are taken as uniform, so the result is close to the exact average, not equal.
        assert!(
            (f64::from(pixels[0]) - exact).abs() < 12.0,
            "{} vs {exact}",
            pixels[0]
        );
    }

    #[test]
    fn interlaced_columns_land_in_their_blocks() {
        let plan = Plan::new(8, 1, Size::Within(2));
        let mut r = Reducer::new(plan, 1).unwrap();
        // Columns 0 and 4 first, then 2 and 6, then the odd ones.
        r.add_row(0, 0, 4, &[10, 50]);
        r.add_row(0, 2, 4, &[30, 70]);
        r.add_row(0, 1, 2, &[20, 40, 60, 80]);
        assert_eq!(r.finish(), [25, 65]);
    }

    #[test]
    fn huge_factors_are_capped_and_finished_by_area_averaging() {
        let plan = Plan::new(40_000, 3, Size::Within(4));
        assert_eq!((plan.factor, plan.blocks(), plan.out), (4096, (10, 1), (4, 1)));
    }
}
