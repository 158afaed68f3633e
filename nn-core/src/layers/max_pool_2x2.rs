//! Max pooling's common window, 2x2 moving by 2, one output row at a time in blocks of eight
//! windows: fixed-size arrays the compiler turns into vector code without a branch. Workload C's
//! pools (rows of 13 and 5 windows) looped one window at a time took 2–3× as long per step.

/// Windows per block.
const BLOCK: usize = 8;

/// The first maximum of `a` (tap `ka`) and `b` (tap `kb`), a NaN winning: PyTorch's rule
/// `v > best || isnan(v)` for one more candidate.
#[inline(always)]
fn first_max<K>(a: f32, ka: K, b: f32, kb: K) -> (f32, K) {
    let take = b > a || b.is_nan();
    (if take { b } else { a }, if take { kb } else { ka })
}

/// The maximum of a window and its tap (0 and 1 on the top row, 2 and 3 below): each row's first
/// maximum, then the two rows' (the top first), the winner of scanning the four in row-major order.
#[inline(always)]
fn window(t0: f32, t1: f32, b0: f32, b1: f32) -> (f32, u32) {
    let (top, bottom) = (first_max(t0, 0, t1, 1), first_max(b0, 2, b1, 3));
    first_max(top.0, top.1, bottom.0, bottom.1)
}

/// The starts of the blocks covering `len` windows: every `BLOCK`-th, and a last one ending at
/// `len` (overlapping the one before it, which computes the same values again). `len >= BLOCK`.
fn blocks(len: usize) -> impl Iterator<Item = usize> {
    (0..len - BLOCK).step_by(BLOCK).chain([len - BLOCK])
}

/// `BLOCK` windows: their maxima and taps, from the `2 * BLOCK` columns of the two input rows.
#[inline(always)]
fn forward_block(t: &[f32; 2 * BLOCK], b: &[f32; 2 * BLOCK]) -> ([f32; BLOCK], [u32; BLOCK]) {
    let (mut v, mut k) = ([0.0f32; BLOCK], [0u32; BLOCK]);
    for i in 0..BLOCK {
        (v[i], k[i]) = window(t[2 * i], t[2 * i + 1], b[2 * i], b[2 * i + 1]);
    }
    (v, k)
}

/// `BLOCK` windows' gradients `g` spread over the `2 * BLOCK` columns of the two input rows:
/// each at its window's tap `k`, zero at the other three.
#[inline(always)]
fn backward_block(g: &[f32; BLOCK], k: &[u16; BLOCK]) -> ([f32; 2 * BLOCK], [f32; 2 * BLOCK]) {
    let (mut t, mut b) = ([0.0f32; 2 * BLOCK], [0.0f32; 2 * BLOCK]);
    for i in 0..BLOCK {
        // The gradient's bits where the tap matches, else all zero bits: a mask, not a branch.
        let bits = g[i].to_bits();
        let at = |tap: u16| f32::from_bits(bits & u32::from(k[i] == tap).wrapping_neg());
        (t[2 * i], t[2 * i + 1], b[2 * i], b[2 * i + 1]) = (at(0), at(1), at(2), at(3));
    }
    (t, b)
}

/// One output row of a 2x2 max pool: `y[i]` (and `taps[i]`, if given) for the window of columns
/// `2i` and `2i + 1` of the input rows `top` and `bottom`.
#[inline(always)]
pub(super) fn forward_row(top: &[f32], bottom: &[f32], y: &mut [f32], mut taps: Option<&mut [u16]>) {
    let len = y.len();
    if len < BLOCK {
        // A short row (5 windows in workload C's second pool) goes through one padded block.
        let (mut t, mut b) = ([0.0f32; 2 * BLOCK], [0.0f32; 2 * BLOCK]);
        t[..2 * len].copy_from_slice(&top[..2 * len]);
        b[..2 * len].copy_from_slice(&bottom[..2 * len]);
        let (v, k) = forward_block(&t, &b);
        y.copy_from_slice(&v[..len]);
        if let Some(taps) = taps {
            for (tap, &k) in taps.iter_mut().zip(&k) {
                *tap = k as u16;
            }
        }
        return;
    }
    for s in blocks(len) {
        let t = top[2 * s..][..2 * BLOCK].try_into().expect("a block");
        let b = bottom[2 * s..][..2 * BLOCK].try_into().expect("a block");
        let (v, k) = forward_block(t, b);
        y[s..s + BLOCK].copy_from_slice(&v);
        if let Some(taps) = taps.as_deref_mut() {
            for (tap, k) in taps[s..s + BLOCK].iter_mut().zip(k) {
                *tap = k as u16;
            }
        }
    }
}

/// One output row's gradient `g` spread over the input rows `top` and `bottom` (their first
/// `2 * g.len()` columns): each window's gradient at its tap, zero at the other three.
#[inline(always)]
pub(super) fn backward_row(g: &[f32], taps: &[u16], top: &mut [f32], bottom: &mut [f32]) {
    let len = g.len();
    if len < BLOCK {
        // A padded block measured slower here than this loop (copies of variable length).
        let pairs = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2));
        for ((&g, &k), (t, b)) in g.iter().zip(taps).zip(pairs) {
            let at = |tap: u16| if k == tap { g } else { 0.0 };
            [t[0], t[1], b[0], b[1]] = [at(0), at(1), at(2), at(3)];
        }
        return;
    }
    for s in blocks(len) {
        let g = g[s..][..BLOCK].try_into().expect("a block");
        let k = taps[s..][..BLOCK].try_into().expect("a block");
        let (t, b) = backward_block(g, k);
        top[2 * s..][..2 * BLOCK].copy_from_slice(&t);
        bottom[2 * s..][..2 * BLOCK].copy_from_slice(&b);
    }
}
