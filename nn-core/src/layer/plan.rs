//! [`TrainingPlan`]: what the coming epoch of training needs from each layer — which gradients
//! backward must compute (freezing), whether frozen normalisation keeps its running statistics,
//! and the epoch (for randomness that must resume) — handed down the layer tree by
//! [`Layer::prepare`].

use crate::layer::{for_each_param, Layer};

/// Which parameters are frozen, by full name.
type FrozenFn<'a> = &'a dyn Fn(&str) -> bool;

/// Nothing frozen: the predicate of [`TrainingPlan::full`].
const NOTHING_FROZEN: fn(&str) -> bool = |_| false;

/// What the coming epoch of training needs from each layer, passed down the tree by
/// [`Layer::prepare`]: PyTorch's `requires_grad` and `module.eval()` on a frozen part, decided
/// once per epoch instead of per operation.
///
/// The trainer builds one from its optimizer's frozen parameters before every epoch, and a
/// [`TrainingPlan::full`] one when `fit` ends, so that a network outside `fit` computes every
/// gradient again. A layer reads:
/// - [`TrainingPlan::input_grad`]: whether backward must return the gradient with respect to its
///   input. When not, backward may return any tensor of the input's shape (its values are not
///   read), so a frozen layer at the start of a network skips its backward's work.
/// - [`TrainingPlan::param_grad`]: whether one of its parameters is trained; a frozen one's
///   gradient need not be computed (it keeps whatever it held).
/// - [`TrainingPlan::norm_stats_frozen`], [`TrainingPlan::epoch`].
///
/// The input of a child needs a gradient when the container's input does or when a child before
/// it (in [`Layer::visit_children`]'s forward order) has a trained parameter. That is exact for
/// a chain, and errs towards computing more for a block whose paths all start at its input (a
/// residual block, concatenated branches), so it is safe for both.
///
/// ```
/// use nn_core::layer::TrainingPlan;
/// use nn_core::{layers::{Linear, Relu}, seeded, Init, Layer, Mode, Tensor};
/// let mut rng = seeded(1);
/// let mut net = vec![Linear::new(4, 3, Init::He, &mut rng), Linear::new(3, 2, Init::He, &mut rng)];
/// // Freeze the first layer: it needs no gradient at all, the second no input gradient.
/// let frozen = |name: &str| name.starts_with("0.");
/// net.prepare(&mut TrainingPlan::new(&frozen));
/// let y = net.forward(Tensor::ones(vec![5, 4]), Mode::Train);
/// net.backward(Tensor::ones(y.raw_dim()));
/// ```
pub struct TrainingPlan<'a> {
    frozen: FrozenFn<'a>,
    /// The path of the layer being told, with a trailing `.` below the root.
    path: String,
    /// Whether the current layer's input needs a gradient.
    input: bool,
    epoch: Option<usize>,
    norm_stats_frozen: bool,
}

impl<'a> TrainingPlan<'a> {
    /// A plan in which the parameters `frozen` says yes to (by full name, `fc1.weight`) are
    /// frozen, the network's input needs no gradient (it is data), no epoch is under way and
    /// normalisation layers use batch statistics in training.
    pub fn new(frozen: FrozenFn<'a>) -> Self {
        TrainingPlan {
            frozen,
            // Room for the paths of most networks, so that telling one costs one allocation.
            path: String::with_capacity(64),
            input: false,
            epoch: None,
            norm_stats_frozen: false,
        }
    }

    /// The plan outside training: every gradient needed, the input's too, no epoch. Layers told
    /// it behave as if never told anything.
    pub fn full() -> TrainingPlan<'static> {
        TrainingPlan {
            input: true,
            ..TrainingPlan::new(&NOTHING_FROZEN)
        }
    }

    /// Says that `epoch` (0-based) is the epoch about to train.
    pub fn with_epoch(mut self, epoch: usize) -> Self {
        self.epoch = Some(epoch);
        self
    }

    /// With `true`, normalisation layers whose parameters are all frozen normalise with their
    /// running statistics in training too, and leave them unchanged (as `module.eval()` on a
    /// frozen part does in PyTorch).
    pub fn with_norm_stats_frozen(mut self, frozen: bool) -> Self {
        self.norm_stats_frozen = frozen;
        self
    }

    /// Whether the network's own input needs a gradient (default `false`: its input is data).
    pub fn with_input_grad(mut self, needed: bool) -> Self {
        self.input = needed;
        self
    }

    /// Whether backward must return the gradient with respect to the current layer's input.
    pub fn input_grad(&self) -> bool {
        self.input
    }

    /// Whether the current layer's parameter called `name` (its own name, `weight`) is trained,
    /// so that backward must compute its gradient.
    pub fn param_grad(&mut self, name: &str) -> bool {
        let len = self.path.len();
        self.path.push_str(name);
        let frozen = (self.frozen)(&self.path);
        self.path.truncate(len);
        !frozen
    }

    /// Whether normalisation layers whose parameters are all frozen keep their running
    /// statistics in training (see [`TrainingPlan::with_norm_stats_frozen`]).
    pub fn norm_stats_frozen(&self) -> bool {
        self.norm_stats_frozen
    }

    /// The 0-based epoch about to train, or `None` outside training. A layer whose randomness
    /// must resume exactly (dropout) draws it from its seed and this epoch.
    pub fn epoch(&self) -> Option<usize> {
        self.epoch
    }

    /// Tells `layer`, a child called `name` of the current layer, its part of the plan: its
    /// input needs a gradient if this one's does or a child told before has a trained parameter.
    /// Containers call it for each child in forward order (the default [`Layer::prepare`] does).
    pub fn child(&mut self, name: &str, layer: &mut dyn Layer) {
        let len = self.path.len();
        self.path.push_str(name);
        self.path.push('.');
        let input = self.input;
        layer.prepare(self);
        self.input = input || self.trains_any(layer);
        self.path.truncate(len);
    }

    /// Whether `layer`, at the current path, has a parameter that is not frozen.
    fn trains_any(&mut self, layer: &mut dyn Layer) -> bool {
        let len = self.path.len();
        let mut any = false;
        let (path, frozen) = (&mut self.path, self.frozen);
        for_each_param(layer, |name, _| {
            if !any {
                path.push_str(name);
                any = !frozen(path);
                path.truncate(len);
            }
        });
        any
    }

    /// Tells `net` (the whole network) this plan: [`Layer::prepare`] from the root.
    pub fn apply(&mut self, net: &mut (impl Layer + ?Sized)) {
        self.path.clear();
        net.prepare(self);
    }
}

/// What a [`TrainingPlan`] told a layer with a `weight` and a `bias`: which gradients its backward
/// computes (all of them until told otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Needs {
    pub(crate) input: bool,
    pub(crate) weight: bool,
    pub(crate) bias: bool,
}

impl Default for Needs {
    fn default() -> Self {
        Needs {
            input: true,
            weight: true,
            bias: true,
        }
    }
}

impl Needs {
    /// What `plan` says for the current layer.
    pub(crate) fn from_plan(plan: &mut TrainingPlan<'_>) -> Self {
        Needs {
            input: plan.input_grad(),
            weight: plan.param_grad("weight"),
            bias: plan.param_grad("bias"),
        }
    }

    /// Whether backward has anything to compute.
    pub(crate) fn any(self) -> bool {
        self.input || self.weight || self.bias
    }
}

/// Whether a layer without parameters must compute its input gradient, as the last
/// [`TrainingPlan`] said (yes until told otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InputGrad(pub(crate) bool);

impl Default for InputGrad {
    fn default() -> Self {
        InputGrad(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Mode, ParamKind, Visitor};
    use crate::tensor::Tensor;
    use ndarray::IxDyn;

    /// A leaf with a parameter `w` that records what the plan told it.
    #[derive(Default)]
    struct Probe {
        w: Tensor,
        g: Tensor,
        told: Option<(bool, bool, Option<usize>)>,
    }

    impl Layer for Probe {
        fn forward(&mut self, x: Tensor, _: Mode) -> Tensor {
            x
        }
        fn backward(&mut self, g: Tensor) -> Tensor {
            g
        }
        fn visit(&mut self, v: &mut Visitor<'_>) {
            v.param("w", &mut self.w, &mut self.g, ParamKind::Weight);
        }
        fn prepare(&mut self, plan: &mut TrainingPlan<'_>) {
            self.told = Some((plan.input_grad(), plan.param_grad("w"), plan.epoch()));
        }
    }

    fn probe() -> Probe {
        Probe {
            w: Tensor::zeros(IxDyn(&[1])),
            g: Tensor::zeros(IxDyn(&[1])),
            told: None,
        }
    }

    #[test]
    fn inputs_need_gradients_after_the_first_trained_parameter_in_forward_order() {
        // 0 and 1.0 frozen, 1.1 and 2 trained.
        let mut net = vec![vec![probe()], vec![probe(), probe()], vec![probe()]];
        let frozen = |name: &str| name == "0.0.w" || name == "1.0.w";
        TrainingPlan::new(&frozen).with_epoch(3).apply(&mut net);
        let told: Vec<_> = net.iter().flatten().map(|p| p.told.unwrap()).collect();
        assert_eq!(
            told,
            [
                (false, false, Some(3)),
                (false, false, Some(3)),
                (false, true, Some(3)),
                (true, true, Some(3)),
            ]
        );
        TrainingPlan::full().apply(&mut net);
        assert!(net.iter().flatten().all(|p| p.told == Some((true, true, None))));
    }

    #[test]
    fn boxes_and_options_pass_the_plan_to_the_layer_they_hold() {
        let mut net: Box<Option<Probe>> = Box::new(Some(probe()));
        let frozen = |name: &str| name == "w";
        TrainingPlan::new(&frozen).with_epoch(0).apply(&mut net);
        assert_eq!(net.as_ref().as_ref().unwrap().told, Some((false, false, Some(0))));
    }
}
