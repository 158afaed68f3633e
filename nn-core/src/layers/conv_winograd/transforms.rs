//! Winograd's transforms: `Bᵀ d B` of the input tiles, `Aᵀ M A` of the outputs, `G g Gᵀ` of the
//! kernels, and their transposes for the backward, on 8 channels per vector.

use super::super::nchw::Size2;
use super::{lanes, Lanes, Shapes, LANES, XI};
use crate::linalg::vectorized;

// The helpers below are loops over fixed-size arrays rather than `array::from_fn`, which the
// compiler left as out-of-line calls (a tenth of a training step).

#[inline(always)]
fn add(mut a: Lanes, b: Lanes) -> Lanes {
    for l in 0..LANES {
        a[l] += b[l];
    }
    a
}

#[inline(always)]
fn sub(mut a: Lanes, b: Lanes) -> Lanes {
    for l in 0..LANES {
        a[l] -= b[l];
    }
    a
}

#[inline(always)]
fn neg(mut a: Lanes) -> Lanes {
    for v in &mut a {
        *v = -*v;
    }
    a
}

/// The vector at the start of `s`.
#[inline(always)]
fn load(s: &[f32]) -> Lanes {
    let mut a = [0.0; LANES];
    a.copy_from_slice(&s[..LANES]);
    a
}

/// `Bᵀ d B` of one 4x4 tile, rows then columns: `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`.
#[inline(always)]
fn input_transform(d: [Lanes; 4]) -> [Lanes; 4] {
    [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3])]
}

/// `B e Bᵀ`'s one-dimensional step (the transpose of [`input_transform`]).
#[inline(always)]
fn input_transform_back(e: [Lanes; 4]) -> [Lanes; 4] {
    [
        e[0],
        add(sub(e[1], e[2]), e[3]),
        add(sub(e[1], e[0]), e[2]),
        neg(e[3]),
    ]
}

/// `Aᵀ m` of one 4-vector: `Aᵀ = [1 1 1 0; 0 1 -1 -1]`.
#[inline(always)]
fn output_transform(m: [Lanes; 4]) -> [Lanes; 2] {
    [add(add(m[0], m[1]), m[2]), sub(sub(m[1], m[2]), m[3])]
}

/// `A g` of one 2-vector (the transpose of [`output_transform`]).
#[inline(always)]
fn output_transform_back(g: [Lanes; 2]) -> [Lanes; 4] {
    [g[0], add(g[0], g[1]), sub(g[0], g[1]), neg(g[1])]
}

/// Applies the one-dimensional `step` to the rows, then the columns, of a 4x4 or 2x2 tile of
/// vectors, `[rows][columns]`.
#[inline(always)]
fn both_axes<const I: usize, const O: usize>(
    tile: [[Lanes; I]; I],
    step: &impl Fn([Lanes; I]) -> [Lanes; O],
) -> [[Lanes; O]; O] {
    // Along the rows (each column's I values) first, then along the columns.
    let mut cols = [[[0.0; LANES]; O]; I];
    for j in 0..I {
        let mut column = [[0.0; LANES]; I];
        for i in 0..I {
            column[i] = tile[i][j];
        }
        cols[j] = step(column);
    }
    let mut out = [[[0.0; LANES]; O]; O];
    for p in 0..O {
        let mut row = [[0.0; LANES]; I];
        for j in 0..I {
            row[j] = cols[j][p];
        }
        out[p] = step(row);
    }
    out
}

/// An image-like buffer of a chunk: `[images, channels / 8, size.h, size.w, 8]`.
#[derive(Clone, Copy)]
struct Planes {
    channels: usize,
    size: Size2,
}

impl Planes {
    /// Index of the top-left pixel of tile `(ty, tx)` of `image`, channel block `cb`.
    #[inline(always)]
    fn tile(&self, image: usize, cb: usize, ty: usize, tx: usize) -> usize {
        let plane = self.size.h * self.size.w * LANES;
        (image * lanes(self.channels) / LANES + cb) * plane + (2 * ty * self.size.w + 2 * tx) * LANES
    }

    /// Offset of pixel `(i, j)` of a tile from its top-left pixel.
    #[inline(always)]
    fn pixel(&self, i: usize, j: usize) -> usize {
        (i * self.size.w + j) * LANES
    }
}

/// Calls `f(t, at)` for every tile `t` of `images` images and block of 8 of `planes`' channels,
/// with `at` the tile's top-left pixel in `planes` and in the `[16, tiles, channels]` matrix
/// (position 0).
#[inline(always)]
fn for_each_tile(s: &Shapes, images: usize, planes: Planes, mut f: impl FnMut(usize, usize)) {
    let row = lanes(planes.channels);
    let mut t = 0;
    for m in 0..images {
        for ty in 0..s.tiles.h {
            for tx in 0..s.tiles.w {
                for cb in 0..row / LANES {
                    f(planes.tile(m, cb, ty, tx), t * row + cb * LANES);
                }
                t += 1;
            }
        }
    }
}

/// For every tile and 8 channels: `step` along both axes of its `I x I` pixels of `planes`, into
/// the 16 positions of `matrix` (`[16, tiles, channels]`).
#[inline(always)]
fn planes_to_matrix<const I: usize>(
    s: &Shapes,
    images: usize,
    (planes, src): (Planes, &[f32]),
    matrix: &mut [f32],
    step: impl Fn([Lanes; I]) -> [Lanes; 4],
) {
    let position = s.tiles_of(images) * lanes(planes.channels);
    vectorized(
        #[inline(always)]
        || {
            for_each_tile(
                s,
                images,
                planes,
                #[inline(always)]
                |at, to| {
                    let mut tile = [[[0.0; LANES]; I]; I];
                    for (i, tile) in tile.iter_mut().enumerate() {
                        for (j, tile) in tile.iter_mut().enumerate() {
                            *tile = load(&src[at + planes.pixel(i, j)..]);
                        }
                    }
                    for (xi, lanes) in both_axes(tile, &step).iter().flatten().enumerate() {
                        matrix[xi * position + to..][..LANES].copy_from_slice(lanes);
                    }
                },
            );
        },
    );
}

/// For every tile and 8 channels: `step` along both axes of its 16 positions of `matrix`, into
/// its `O x O` pixels of `planes` (added onto them if `accumulate`, else written).
#[inline(always)]
fn matrix_to_planes<const O: usize>(
    s: &Shapes,
    images: usize,
    matrix: &[f32],
    (planes, dst): (Planes, &mut [f32]),
    accumulate: bool,
    step: impl Fn([Lanes; 4]) -> [Lanes; O],
) {
    let position = s.tiles_of(images) * lanes(planes.channels);
    vectorized(
        #[inline(always)]
        || {
            for_each_tile(
                s,
                images,
                planes,
                #[inline(always)]
                |at, from| {
                    let mut tile = [[[0.0; LANES]; 4]; 4];
                    for (xi, tile) in tile.iter_mut().flatten().enumerate() {
                        *tile = load(&matrix[xi * position + from..]);
                    }
                    for (i, row) in both_axes(tile, &step).iter().enumerate() {
                        for (j, &values) in row.iter().enumerate() {
                            // As whole vectors: a loop over the lanes was compiled to scalar
                            // moves through the stack, 2.2-2.5x this transform's time.
                            let dst: &mut Lanes = (&mut dst[at + planes.pixel(i, j)..][..LANES])
                                .try_into()
                                .expect("one vector");
                            *dst = if accumulate {
                                self::add(*dst, values)
                            } else {
                                values
                            };
                        }
                    }
                },
            );
        },
    );
}

impl Shapes {
    /// The staged images' layout.
    fn staged_planes(&self) -> Planes {
        Planes {
            channels: self.channels,
            size: self.staged(),
        }
    }

    /// The outputs' layout in whole tiles.
    fn block_planes(&self) -> Planes {
        Planes {
            channels: self.out,
            size: self.blocks(),
        }
    }
}

/// `V = Bᵀ d B` of every tile and input channel, `[16, tiles, in]`.
pub(super) fn transform_inputs(s: &Shapes, images: usize, staged: &[f32], v: &mut [f32]) {
    planes_to_matrix(s, images, (s.staged_planes(), staged), v, input_transform);
}

/// `B dV Bᵀ` of every tile, added up over `staged` (zeroed first): the input gradient.
pub(super) fn untransform_inputs(s: &Shapes, images: usize, dv: &[f32], staged: &mut [f32]) {
    staged.fill(0.0);
    matrix_to_planes(
        s,
        images,
        dv,
        (s.staged_planes(), staged),
        true,
        input_transform_back,
    );
}

/// `Y = Aᵀ M A` of every tile and output channel, into whole tiles.
pub(super) fn transform_outputs(s: &Shapes, images: usize, m: &[f32], blocks: &mut [f32]) {
    matrix_to_planes(s, images, m, (s.block_planes(), blocks), false, output_transform);
}

/// `dM = A dY Aᵀ` of every tile and output channel, `[16, tiles, out]`.
pub(super) fn transform_grads(s: &Shapes, images: usize, blocks: &[f32], dm: &mut [f32]) {
    planes_to_matrix(s, images, (s.block_planes(), blocks), dm, output_transform_back);
}

/// `U = G g Gᵀ` of every kernel (`weight` is `[out, in, 3, 3]`), `[16, in, out]`:
/// `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`.
pub(super) fn transform_kernels(weight: &[f32], out: usize, channels: usize, u: &mut Vec<f32>) {
    u.resize(XI * out * channels, 0.0);
    let step = |g: [f32; 3]| [g[0], (g[0] + g[1] + g[2]) * 0.5, (g[0] - g[1] + g[2]) * 0.5, g[2]];
    for (kc, g) in weight.chunks_exact(9).enumerate() {
        let cols: [[f32; 4]; 3] = std::array::from_fn(|j| step([g[j], g[3 + j], g[6 + j]]));
        for p in 0..4 {
            let row = step([cols[0][p], cols[1][p], cols[2][p]]);
            for (q, &value) in row.iter().enumerate() {
                u[(4 * p + q) * out * channels + kc % channels * out + kc / channels] = value;
            }
        }
    }
}

/// The weight gradient `Gᵀ dU G` of every kernel, from `du` (`[16, in, out]`), into
/// `weight_grad` (`[out, in, 3, 3]`).
pub(super) fn untransform_kernels(du: &[f32], out: usize, channels: usize, weight_grad: &mut [f32]) {
    let step = |e: [f32; 4]| {
        [
            e[0] + (e[1] + e[2]) * 0.5,
            (e[1] - e[2]) * 0.5,
            (e[1] + e[2]) * 0.5 + e[3],
        ]
    };
    for (kc, dw) in weight_grad.chunks_exact_mut(9).enumerate() {
        let at = |p: usize, q: usize| du[(4 * p + q) * out * channels + kc % channels * out + kc / channels];
        let cols: [[f32; 3]; 4] = std::array::from_fn(|q| step(std::array::from_fn(|p| at(p, q))));
        for a in 0..3 {
            let row = step(std::array::from_fn(|q| cols[q][a]));
            dw[3 * a..3 * a + 3].copy_from_slice(&row);
        }
    }
}
