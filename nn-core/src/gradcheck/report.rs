//! What a gradient check reports: per tensor, the worst disagreement between backward and the
//! finite differences ([`TensorCheck`]), and for the whole layer a [`GradReport`] that prints
//! where it failed and why.

use crate::tensor::Tensor;
use std::fmt;

/// The finite differences at one value: the central quotient the check compares, and the
/// one-sided quotients above and below it, which agree to about `eps * f''` where the function is
/// smooth and differ by the change of slope where it bends within the step.
#[derive(Clone, Copy, Debug)]
pub(super) struct Quotients {
    pub central: f64,
    pub above: f64,
    pub below: f64,
}

/// The error measure: `|a - n| / max(|a|, |n|, scale)`, 0 where both agree exactly.
fn error(analytic: f64, numeric: f64, scale: f64) -> f64 {
    if analytic == numeric {
        return 0.0;
    }
    (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(scale)
}

/// The worst disagreement between `analytic` (logical order) and `numeric`, each measured
/// relative to the larger of the tensor's own largest gradient and `floor`.
pub(super) fn compare(name: &str, analytic: &Tensor, numeric: &[Quotients], floor: f64) -> TensorCheck {
    let peak = analytic
        .iter()
        .map(|&a| f64::from(a).abs())
        .chain(numeric.iter().map(|q| q.central.abs()))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let scale = peak.max(floor);
    let mut check = TensorCheck {
        name: name.to_string(),
        values: numeric.len(),
        worst_error: 0.0,
        worst_index: Vec::new(),
        analytic: 0.0,
        numeric: 0.0,
        above: 0.0,
        below: 0.0,
        scale,
    };
    let mut worst_flat = None;
    for (i, (&a, q)) in analytic.iter().zip(numeric).enumerate() {
        let a = f64::from(a);
        // A NaN error (a NaN gradient on either side) counts as the worst possible.
        let e = error(a, q.central, scale);
        let e = if e.is_nan() { f64::INFINITY } else { e };
        if worst_flat.is_none() || e > check.worst_error {
            check.worst_error = e;
            check.analytic = a;
            check.numeric = q.central;
            check.above = q.above;
            check.below = q.below;
            worst_flat = Some(i);
        }
    }
    if let Some(mut flat) = worst_flat {
        let shape = analytic.shape();
        check.worst_index = vec![0; shape.len()];
        for (d, &len) in shape.iter().enumerate().rev() {
            check.worst_index[d] = flat % len;
            flat /= len;
        }
    }
    check
}

/// The result of checking one tensor (the input or a parameter).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorCheck {
    /// `input`, or the parameter's full name (`weight`, `block.bn.bias`).
    pub name: String,
    /// How many values were compared.
    pub values: usize,
    /// The largest `|analytic - numeric| / max(|analytic|, |numeric|, scale)`; infinite for NaN.
    pub worst_error: f64,
    /// Where it occurs (an index into the tensor).
    pub worst_index: Vec<usize>,
    /// Backward's value there.
    pub analytic: f64,
    /// The finite-difference value there (the central quotient).
    pub numeric: f64,
    /// The one-sided quotient above the value there: `(f(v + eps) - f(v)) / eps`.
    pub above: f64,
    /// The one-sided quotient below the value there: `(f(v) - f(v - eps)) / eps`.
    pub below: f64,
    /// The smallest denominator of the error: the tensor's largest gradient (analytic or
    /// numeric), or, if larger, 100 times a bound on the f32 rounding noise of the finite
    /// differences (so that noise alone stays within the default tolerance 1e-2).
    pub scale: f64,
}

impl TensorCheck {
    /// Whether the function bends within the step at the worst value, enough to explain its
    /// error: the one-sided quotients differ by at least `|analytic - numeric|`. A kink (a ReLU
    /// input within `eps` of 0) makes them differ by twice that, while a smooth function's differ
    /// by about `eps * f''`, far less than a wrong backward's error. Meaningful for a failing
    /// value; at a passing one, both sides are small.
    pub fn bends_within_step(&self) -> bool {
        (self.above - self.below).abs() >= (self.analytic - self.numeric).abs()
    }
}

/// What a gradient check found: per tensor, the worst disagreement between backward and finite
/// differences. Prints a summary with `{}`.
#[derive(Clone, Debug, PartialEq)]
pub struct GradReport {
    /// The input first, then every parameter in visiting order.
    pub tensors: Vec<TensorCheck>,
    /// Whether two Train forwards of one input gave identical outputs. If not (an unfrozen
    /// Dropout), finite differences measure noise and the check fails.
    pub deterministic: bool,
    /// The finite-difference step used.
    pub eps: f64,
    /// The pass threshold used.
    pub tolerance: f64,
}

impl GradReport {
    /// The tensor with the largest error, if any values were checked.
    pub fn worst(&self) -> Option<&TensorCheck> {
        self.tensors
            .iter()
            .filter(|t| t.values > 0)
            .max_by(|a, b| a.worst_error.total_cmp(&b.worst_error))
    }

    /// The largest error over all tensors (0 if nothing was checked).
    pub fn worst_error(&self) -> f64 {
        self.worst().map_or(0.0, |t| t.worst_error)
    }

    /// Whether the layer is deterministic and every error is within the tolerance.
    pub fn passed(&self) -> bool {
        self.deterministic && self.worst_error() <= self.tolerance
    }

    /// Whether the check failed at a point where the function bends within the step (see
    /// [`TensorCheck::bends_within_step`]): a kink, which finite differences cannot cross, rather
    /// than (necessarily) a wrong backward. The report's text then says how to check the layer.
    pub fn failed_at_a_kink(&self) -> bool {
        !self.passed() && self.deterministic && self.worst().is_some_and(TensorCheck::bends_within_step)
    }

    /// Panics with the report unless the check passed: `gradcheck(&mut l, &[4, 8]).assert_passed()`.
    #[track_caller]
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("{self}");
        }
    }
}

impl fmt::Display for GradReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        write!(f, "gradcheck {verdict}: ")?;
        if !self.deterministic {
            write!(
                f,
                "two Train forwards of the same input gave different outputs, so finite differences \
                 are meaningless (freeze random state first, e.g. Dropout::freeze_mask(true)); "
            )?;
        }
        match self.worst() {
            Some(w) => write!(
                f,
                "worst error {:.2e} at {}{:?} (analytic {:.6e}, numeric {:.6e})",
                w.worst_error, w.name, w.worst_index, w.analytic, w.numeric
            )?,
            None => write!(f, "nothing to check")?,
        }
        writeln!(f, "; eps {:e}, tolerance {:e}", self.eps, self.tolerance)?;
        if let Some(w) = self.worst().filter(|_| self.failed_at_a_kink()) {
            writeln!(
                f,
                "  the loss bends within ±eps of {}{:?} (one-sided differences {:.6e} above, {:.6e} \
                 below): a kink, such as a ReLU-like activation whose input lies within eps of 0, \
                 which finite differences cannot cross, so this need not be a wrong backward. To \
                 check the layer, move the sample (another GradCheck seed, or check_input with \
                 inputs away from the kink) or check it with a smooth activation (Tanh) in place \
                 of the ReLU-like one",
                w.name, w.worst_index, w.above, w.below
            )?;
        }
        let width = self.tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &self.tensors {
            writeln!(
                f,
                "  {:<width$}  worst {:.2e} over {} values",
                t.name, t.worst_error, t.values
            )?;
        }
        Ok(())
    }
}
