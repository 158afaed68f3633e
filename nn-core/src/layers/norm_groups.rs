//! What [`LayerNorm`](super::LayerNorm) and [`GroupNorm`](super::GroupNorm) share: each sample
//! is normalised over groups of its own values (no batch statistics, so Train and Eval compute
//! the same thing), then scaled and shifted by optional learned parameters.

use super::nchw::{sum_map, sum_zip};
use super::par::{self, PARTS};
use crate::layer::{ParamKind, Saved, Visitor};
use crate::linalg::vectorized;
use crate::tensor::Tensor;
use ndarray::IxDyn;
use std::fmt;

/// How a normalisation sees its input: rows (samples) of `row` values, each split into `groups`
/// contiguous groups normalised separately, the affine parameters applying per run of `run`
/// values (a channel's plane for GroupNorm, one value for LayerNorm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub row: usize,
    pub groups: usize,
    pub run: usize,
}

impl Layout {
    /// Values per group.
    fn group(&self) -> usize {
        self.row / self.groups
    }

    /// Rows in `len` values (none if rows are empty: images of no pixels).
    fn rows(&self, len: usize) -> usize {
        len.checked_div(self.row).unwrap_or(0)
    }
}

/// The learned scale and shift (PyTorch's `weight` and `bias`) and their gradients.
#[derive(Clone, Debug)]
struct Affine {
    weight: Tensor,
    bias: Tensor,
    weight_grad: Tensor,
    bias_grad: Tensor,
}

/// The state of a per-sample normalisation: eps, the affine parameters, what backward needs and
/// the scratch of the parameter gradients, all reused from step to step.
#[derive(Clone, Debug)]
pub(super) struct GroupStats {
    eps: f32,
    affine: Option<Affine>,
    /// The normalised input of the last Train forward.
    x_hat: Saved<f32>,
    /// `1 / sqrt(var + eps)` per row and group, of the same forward, and its layout.
    inv_std: Vec<f32>,
    layout: Layout,
    /// Per part of the batch: its share of the weight and bias gradients per value of a row
    /// (`2 * row`), summed per run and over parts in a fixed order at the end.
    shares: Vec<Vec<f32>>,
}

impl GroupStats {
    /// eps 1e-5 (PyTorch's default); with `affine`, a weight of ones and a bias of zeros of
    /// `shape`.
    pub fn new(affine: bool, shape: &[usize]) -> Self {
        let d = IxDyn(shape);
        GroupStats {
            eps: 1e-5,
            affine: affine.then(|| Affine {
                weight: Tensor::ones(d.clone()),
                bias: Tensor::zeros(d.clone()),
                weight_grad: Tensor::zeros(d.clone()),
                bias_grad: Tensor::zeros(d),
            }),
            x_hat: Saved::new(),
            inv_std: Vec::new(),
            layout: Layout {
                row: 1,
                groups: 1,
                run: 1,
            },
            shares: vec![Vec::new(); PARTS],
        }
    }

    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// Checks and sets eps (`eps > 0`, finite); `layer` names the layer in the panic.
    pub fn set_eps(&mut self, layer: &str, eps: f32) {
        assert!(
            eps > 0.0 && eps.is_finite(),
            "{layer}: eps must be positive and finite, got {eps}"
        );
        self.eps = eps;
    }

    /// Drops (or brings back, as ones and zeros) the affine parameters.
    pub fn set_affine(&mut self, affine: bool, shape: &[usize]) {
        if affine != self.affine.is_some() {
            *self = GroupStats {
                eps: self.eps,
                ..GroupStats::new(affine, shape)
            };
        }
    }

    pub fn has_affine(&self) -> bool {
        self.affine.is_some()
    }

    /// The weight and bias, if the layer has them.
    pub fn weight(&self) -> Option<&Tensor> {
        self.affine.as_ref().map(|a| &a.weight)
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.affine.as_ref().map(|a| &a.bias)
    }

    /// Visits `weight` and `bias` (PyTorch's names), if any.
    pub fn visit(&mut self, v: &mut Visitor<'_>) {
        if let Some(a) = &mut self.affine {
            v.param("weight", &mut a.weight, &mut a.weight_grad, ParamKind::Norm);
            v.param("bias", &mut a.bias, &mut a.bias_grad, ParamKind::Norm);
        }
    }

    /// Normalises `x` (standard layout, rows as `layout` says) in place; a Train forward keeps
    /// what backward needs.
    pub fn forward(&mut self, x: &mut Tensor, layout: Layout, train: bool) {
        let len = x.len();
        let mut hats: [&mut [f32]; PARTS] = Default::default();
        if train {
            self.layout = layout;
            self.inv_std.resize(layout.rows(len) * layout.groups, 0.0);
            let x_hat = self.x_hat.prepare(x.shape());
            hats = par::split(
                x_hat.as_slice_mut().expect("prepare gives standard layout"),
                layout.row,
            );
        }
        let x = x.as_slice_mut().expect("standard layout");
        let (eps, mut inv_rest) = (self.eps, &mut self.inv_std[..]);
        let affine = self.affine.as_ref().map(|a| (values(&a.weight), values(&a.bias)));
        let mut parts: [Option<Rows<'_>>; PARTS] = Default::default();
        for ((slot, x), x_hat) in parts.iter_mut().zip(par::split(x, layout.row)).zip(hats) {
            let inv;
            let stats = if train {
                layout.rows(x.len()) * layout.groups
            } else {
                0
            };
            (inv, inv_rest) = std::mem::take(&mut inv_rest).split_at_mut(stats);
            *slot = Some(Rows { x, x_hat, inv });
        }
        par::for_each(&mut parts, par::worth_len(len), &|part: &mut Option<Rows<'_>>| {
            if let Some(rows) = part.take() {
                forward_rows(rows, layout, eps, affine);
            }
        });
    }

    /// Overwrites `grad` (standard layout) with the input gradient and sets the parameter
    /// gradients. Panics, naming the layer path and `layer`, if no Train forward preceded or the
    /// gradient's shape is not that forward's output's.
    pub fn backward(&mut self, grad: &mut Tensor, layer: impl fmt::Display) {
        let (len, layout) = (grad.len(), self.layout);
        let x_hat = self.x_hat.take(grad.shape(), layer);
        let grad = grad.as_slice_mut().expect("standard layout");
        let (mut hat_rest, mut inv_rest) = (x_hat.as_slice().expect("standard layout"), &self.inv_std[..]);
        let weight = self.affine.as_ref().map(|a| values(&a.weight));
        let mut parts: [Option<Back<'_>>; PARTS] = Default::default();
        let slots = parts.iter_mut().zip(par::split(grad, layout.row));
        for ((slot, grad), share) in slots.zip(&mut self.shares) {
            let (hat, inv);
            (hat, hat_rest) = hat_rest.split_at(grad.len());
            (inv, inv_rest) = inv_rest.split_at(layout.rows(grad.len()) * layout.groups);
            share.clear();
            share.resize(if weight.is_some() { 2 * layout.row } else { 0 }, 0.0);
            *slot = Some(Back {
                grad,
                hat,
                inv,
                share,
            });
        }
        par::for_each(&mut parts, par::worth_len(len), &|part: &mut Option<Back<'_>>| {
            if let Some(back) = part.take() {
                backward_rows(back, layout, weight);
            }
        });
        if let Some(a) = &mut self.affine {
            // The parts' shares summed in part order, each per run in a fixed order: the same
            // bits for any thread count.
            let (dw, db) = (values_mut(&mut a.weight_grad), values_mut(&mut a.bias_grad));
            dw.fill(0.0);
            db.fill(0.0);
            for share in self.shares.iter().filter(|s| !s.is_empty() && layout.run > 0) {
                let (sw, sb) = share.split_at(layout.row);
                let runs = sw.chunks_exact(layout.run).zip(sb.chunks_exact(layout.run));
                for ((w, b), (sw, sb)) in dw.iter_mut().zip(db.iter_mut()).zip(runs) {
                    *w += sum_map(sw, |v| v);
                    *b += sum_map(sb, |v| v);
                }
            }
        }
    }
}

/// One part's rows in forward: the input, normalised in place; where a Train forward writes the
/// normalised input and `1 / sqrt(var + eps)` per row and group (both empty in Eval).
struct Rows<'a> {
    x: &'a mut [f32],
    x_hat: &'a mut [f32],
    inv: &'a mut [f32],
}

/// One part's rows in backward: the gradient (overwritten with the input gradient), the
/// forward's normalised input and `1 / sqrt(var + eps)`, and the part's share of the parameter
/// gradients per value of a row (weight, then bias; empty without them).
struct Back<'a> {
    grad: &'a mut [f32],
    hat: &'a [f32],
    inv: &'a [f32],
    share: &'a mut [f32],
}

fn forward_rows(p: Rows<'_>, layout: Layout, eps: f32, affine: Option<(&[f32], &[f32])>) {
    if layout.row == 0 {
        return;
    }
    let m = layout.group();
    let inv_m = 1.0 / m as f32;
    let train = !p.x_hat.is_empty();
    vectorized(
        #[inline(always)]
        || {
            for (r, row) in p.x.chunks_exact_mut(layout.row).enumerate() {
                for (g, group) in row.chunks_exact_mut(m).enumerate() {
                    // Two passes (mean, then squared deviations): E[x^2] - E[x]^2 loses every
                    // digit in f32 when the mean is large against the spread.
                    let mean = sum_map(group, |v| v) * inv_m;
                    let var = sum_map(group, |v| (v - mean) * (v - mean)) * inv_m;
                    let s = 1.0 / (var + eps).sqrt();
                    for v in group.iter_mut() {
                        *v = (*v - mean) * s;
                    }
                    if train {
                        p.inv[r * layout.groups + g] = s;
                    }
                }
                if train {
                    p.x_hat[r * layout.row..][..layout.row].copy_from_slice(row);
                }
                if let Some((w, b)) = affine {
                    if layout.run == 1 {
                        for ((v, &w), &b) in row.iter_mut().zip(w).zip(b) {
                            *v = *v * w + b;
                        }
                    } else {
                        for ((run, &w), &b) in row.chunks_exact_mut(layout.run).zip(w).zip(b) {
                            for v in run {
                                *v = *v * w + b;
                            }
                        }
                    }
                }
            }
        },
    );
}

/// The input gradient of one part's rows, in place, and the part's share of the parameter
/// gradients: with `gh = g * weight` (the normalised input's gradient) over each group of `m`,
/// `dx = inv_std * (gh - mean(gh) - x_hat * mean(gh * x_hat))`.
fn backward_rows(p: Back<'_>, layout: Layout, weight: Option<&[f32]>) {
    if layout.row == 0 {
        return;
    }
    let m = layout.group();
    let inv_m = 1.0 / m as f32;
    let Back {
        grad,
        hat,
        inv,
        share,
    } = p;
    vectorized(
        #[inline(always)]
        || {
            let rows = grad
                .chunks_exact_mut(layout.row)
                .zip(hat.chunks_exact(layout.row));
            for ((row, hat), inv) in rows.zip(inv.chunks_exact(layout.groups)) {
                if let Some(w) = weight {
                    let (sw, sb) = share.split_at_mut(layout.row);
                    for (((dw, db), &g), &h) in sw.iter_mut().zip(sb.iter_mut()).zip(&*row).zip(hat) {
                        *dw += g * h;
                        *db += g;
                    }
                    if layout.run == 1 {
                        for (g, &w) in row.iter_mut().zip(w) {
                            *g *= w;
                        }
                    } else {
                        for (run, &w) in row.chunks_exact_mut(layout.run).zip(w) {
                            for g in run {
                                *g *= w;
                            }
                        }
                    }
                }
                for ((group, hat), &s) in row.chunks_exact_mut(m).zip(hat.chunks_exact(m)).zip(inv) {
                    let mean_g = sum_map(group, |g| g) * inv_m;
                    let mean_gh = sum_zip(group, hat, |g, h| g * h) * inv_m;
                    for (g, &h) in group.iter_mut().zip(hat) {
                        *g = s * (*g - mean_g - h * mean_gh);
                    }
                }
            }
        },
    );
}

/// Ends a type name with the options that differ from PyTorch's defaults (eps 1e-5, affine):
/// `, eps=0.001, no affine)`.
pub(super) fn fmt_options(f: &mut fmt::Formatter<'_>, eps: f32, affine: bool) -> fmt::Result {
    if eps != 1e-5 {
        write!(f, ", eps={eps}")?;
    }
    if !affine {
        f.write_str(", no affine")?;
    }
    f.write_str(")")
}

/// The elements of one of the layer's own tensors, all built in standard layout.
fn values(t: &Tensor) -> &[f32] {
    t.as_slice().expect("built in standard layout")
}

fn values_mut(t: &mut Tensor) -> &mut [f32] {
    t.as_slice_mut().expect("built in standard layout")
}
