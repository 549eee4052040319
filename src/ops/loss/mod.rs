//! The loss family, each a fused node whose gradient is "prediction minus target" (see
//! `docs/derivation.md`), each checked against its composition from ordinary ops in the tests.
//!
//! Classification losses take logits (or log-probabilities) whose LAST axis is the class axis;
//! a row is one position of all the other axes.
//!
//! | loss | file |
//! |---|---|
//! | [`Var::cross_entropy`], [`Var::cross_entropy_with`], [`Var::cross_entropy_probs`] | `cross_entropy.rs` |
//! | [`Var::nll_loss`] | `nll.rs` |
//! | [`Var::bce_with_logits`] | `bce.rs` |
//! | [`Var::mse_loss`], [`Var::huber_loss`] | `regression.rs` |
//! | [`Var::kl_div`] | `kl_div.rs` |
//!
//! The options live here: [`Reduction`], [`CrossEntropy`], [`BceWithLogits`], [`KlDiv`].

pub(crate) mod bce;
pub(crate) mod cross_entropy;
pub(crate) mod kl_div;
pub(crate) mod nll;
pub(crate) mod regression;

use crate::autograd::Var;
use crate::kernels::Scale;
use crate::kernels::rows;
use crate::tensor::Tensor;
use crate::tensor::indices::Indices;

/// How a loss turns its per-row (or per-element) values into its output, as PyTorch's
/// `reduction=` argument.
///
/// ```
/// use tapegrad::{CrossEntropy, Reduction, Tape, Tensor};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::new(vec![1.0, 2.0, 0.5, -1.0], &[2, 2])?);
/// let per_row = x.cross_entropy_with(&[0, 1], &CrossEntropy::new().reduction(Reduction::None));
/// assert_eq!(per_row.shape(), vec![2]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The mean (each loss says over what: rows, elements, or the targets' weights).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// No reduction: one loss per row (classification) or per element.
    None,
}

impl Reduction {
    /// PyTorch's name for it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
            Reduction::None => "none",
        }
    }
}

/// The options of [`Var::cross_entropy_with`] and [`Var::cross_entropy_probs`], with
/// PyTorch's defaults (`F.cross_entropy`): no weights, no ignored class, no smoothing, mean.
///
/// ```
/// use tapegrad::{CrossEntropy, Reduction, Tensor};
/// let opts = CrossEntropy::new()
///     .weight(Tensor::new(vec![1.0, 2.0, 0.5], &[3])?)
///     .ignore_index(0)
///     .label_smoothing(0.1)
///     .reduction(Reduction::Sum);
/// # let _ = opts;
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    pub(crate) weight: Option<Tensor>,
    pub(crate) ignore_index: Option<usize>,
    pub(crate) label_smoothing: f64,
    pub(crate) reduction: Reduction,
}

impl CrossEntropy {
    /// PyTorch's defaults.
    ///
    /// ```
    /// use tapegrad::CrossEntropy;
    /// assert_eq!(CrossEntropy::new(), CrossEntropy::default());
    /// ```
    pub fn new() -> CrossEntropy {
        CrossEntropy::default()
    }

    /// How the rows' losses are combined. The weighted mean divides by the sum of the
    /// targets' weights (not by the number of rows); soft targets' mean by the number of rows.
    ///
    /// ```
    /// use tapegrad::{CrossEntropy, Reduction};
    /// let opts = CrossEntropy::new().reduction(Reduction::None);
    /// # let _ = opts;
    /// ```
    pub fn reduction(mut self, r: Reduction) -> CrossEntropy {
        self.reduction = r;
        self
    }

    /// A weight per class, shape `[classes]` (checked when the loss is built).
    ///
    /// ```
    /// use tapegrad::{CrossEntropy, Tensor};
    /// let opts = CrossEntropy::new().weight(Tensor::new(vec![1.0, 3.0], &[2])?);
    /// # let _ = opts;
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn weight(mut self, w: Tensor) -> CrossEntropy {
        self.weight = Some(w);
        self
    }

    /// Rows whose target is `class` contribute nothing, neither to the loss nor to the mean's
    /// divisor (padding). The class may lie inside `0..classes`: its logit still takes part in
    /// every other row's softmax. Hard targets only.
    ///
    /// ```
    /// use tapegrad::CrossEntropy;
    /// let opts = CrossEntropy::new().ignore_index(0);
    /// # let _ = opts;
    /// ```
    pub fn ignore_index(mut self, class: usize) -> CrossEntropy {
        self.ignore_index = Some(class);
        self
    }

    /// Mixes the target with the uniform distribution: the target class gets
    /// `1 - eps + eps / C` and every class `eps / C`.
    ///
    /// Panics unless `0 <= eps <= 1`. (PyTorch refuses values above 1 but silently accepts
    /// negative ones, which make a loss that rewards spreading mass away from the other
    /// classes; tapegrad refuses them.)
    ///
    /// ```
    /// use tapegrad::CrossEntropy;
    /// let opts = CrossEntropy::new().label_smoothing(0.1);
    /// # let _ = opts;
    /// ```
    #[track_caller]
    pub fn label_smoothing(mut self, eps: f64) -> CrossEntropy {
        assert!(
            (0.0..=1.0).contains(&eps),
            "cross_entropy: label_smoothing {eps} is outside [0, 1] (tapegrad refuses negative smoothing, unlike PyTorch)"
        );
        self.label_smoothing = eps;
        self
    }
}

/// The options of [`Var::bce_with_logits`], with PyTorch's defaults
/// (`F.binary_cross_entropy_with_logits`): no weights, mean over all elements.
///
/// ```
/// use tapegrad::{BceWithLogits, Reduction, Tensor};
/// let opts = BceWithLogits::new().pos_weight(Tensor::new(vec![3.0, 1.0], &[2])?).reduction(Reduction::Sum);
/// # let _ = opts;
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BceWithLogits {
    pub(crate) weight: Option<Tensor>,
    pub(crate) pos_weight: Option<Tensor>,
    pub(crate) reduction: Reduction,
}

impl BceWithLogits {
    /// PyTorch's defaults.
    ///
    /// ```
    /// use tapegrad::BceWithLogits;
    /// assert_eq!(BceWithLogits::new(), BceWithLogits::default());
    /// ```
    pub fn new() -> BceWithLogits {
        BceWithLogits::default()
    }

    /// How the elements' losses are combined. The mean divides by the number of elements,
    /// with or without weights (unlike cross-entropy's weighted mean).
    ///
    /// ```
    /// use tapegrad::{BceWithLogits, Reduction};
    /// let opts = BceWithLogits::new().reduction(Reduction::None);
    /// # let _ = opts;
    /// ```
    pub fn reduction(mut self, r: Reduction) -> BceWithLogits {
        self.reduction = r;
        self
    }

    /// A weight per element, broadcast against the input (checked when the loss is built).
    ///
    /// ```
    /// use tapegrad::{BceWithLogits, Tensor};
    /// let opts = BceWithLogits::new().weight(Tensor::new(vec![1.0, 0.5], &[2])?);
    /// # let _ = opts;
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn weight(mut self, w: Tensor) -> BceWithLogits {
        self.weight = Some(w);
        self
    }

    /// The weight of the positive term `y log sigmoid(x)`, broadcast along the last axis (one
    /// per class in multi-label classification; `negatives / positives` balances a class).
    ///
    /// ```
    /// use tapegrad::{BceWithLogits, Tensor};
    /// let opts = BceWithLogits::new().pos_weight(Tensor::new(vec![4.0], &[1])?);
    /// # let _ = opts;
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn pos_weight(mut self, w: Tensor) -> BceWithLogits {
        self.pos_weight = Some(w);
        self
    }
}

/// The options of [`Var::kl_div`], with PyTorch's defaults (`F.kl_div`): mean over all
/// elements, targets given as probabilities.
///
/// ```
/// use tapegrad::KlDiv;
/// let opts = KlDiv::new().batchmean().log_target(true);
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KlDiv {
    pub(crate) reduction: KlReduction,
    pub(crate) log_target: bool,
}

/// [`Reduction`] plus PyTorch's `batchmean`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum KlReduction {
    #[default]
    Mean,
    Sum,
    None,
    BatchMean,
}

impl KlDiv {
    /// PyTorch's defaults.
    ///
    /// ```
    /// use tapegrad::KlDiv;
    /// assert_eq!(KlDiv::new(), KlDiv::default());
    /// ```
    pub fn new() -> KlDiv {
        KlDiv::default()
    }

    /// Mean (over all elements, PyTorch's default, which is not the KL divergence), sum, or
    /// none. See [`KlDiv::batchmean`] for the mathematically right mean.
    ///
    /// ```
    /// use tapegrad::{KlDiv, Reduction};
    /// let opts = KlDiv::new().reduction(Reduction::Sum);
    /// # let _ = opts;
    /// ```
    pub fn reduction(mut self, r: Reduction) -> KlDiv {
        self.reduction = match r {
            Reduction::Mean => KlReduction::Mean,
            Reduction::Sum => KlReduction::Sum,
            Reduction::None => KlReduction::None,
        };
        self
    }

    /// The sum divided by the size of the first axis (the batch): the KL divergence per sample.
    ///
    /// ```
    /// use tapegrad::KlDiv;
    /// let opts = KlDiv::new().batchmean();
    /// # let _ = opts;
    /// ```
    pub fn batchmean(mut self) -> KlDiv {
        self.reduction = KlReduction::BatchMean;
        self
    }

    /// Whether the targets are given as log-probabilities (`true`) or probabilities.
    ///
    /// ```
    /// use tapegrad::KlDiv;
    /// let opts = KlDiv::new().log_target(true);
    /// # let _ = opts;
    /// ```
    pub fn log_target(mut self, yes: bool) -> KlDiv {
        self.log_target = yes;
        self
    }
}

/// A reduction resolved for one node: `divisor` is what the mean divides by (1 for a sum or
/// no reduction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Reduced {
    pub(crate) reduction: Reduction,
    pub(crate) divisor: f64,
}

impl Reduced {
    /// `reduction` with `mean_divisor` as the mean's divisor.
    pub(crate) fn new(reduction: Reduction, mean_divisor: f64) -> Reduced {
        let divisor = if reduction == Reduction::Mean { mean_divisor } else { 1.0 };
        Reduced { reduction, divisor }
    }

    /// Whether the output is one number.
    pub(crate) fn reduces(self) -> bool {
        self.reduction != Reduction::None
    }

    /// The output from the losses: their sum over the divisor (shape `[]`), or the losses
    /// themselves in `shape`.
    pub(crate) fn output(self, losses: Vec<f64>, shape: &[usize]) -> Tensor {
        if self.reduces() {
            Tensor::scalar(rows::sum(&losses) / self.divisor)
        } else {
            Tensor::from_parts(losses, shape)
        }
    }

    /// Each element's share of the upstream gradient `g`, without a buffer for a reduced one.
    pub(crate) fn scale(self, upstream: &Tensor) -> Scale<'_> {
        if self.reduces() { Scale::All(upstream.item() / self.divisor) } else { Scale::Each(upstream.data()) }
    }

    /// The upstream gradient's share per loss, recorded (for `backward_graph`): `g / D`, one
    /// number that broadcasts, or for an unreduced output `g` itself in `shape` (the losses'
    /// shape; a per-row loss's with a trailing 1, so that it broadcasts over the classes).
    pub(crate) fn graph_scale<'t>(self, g: Var<'t>, shape: &[usize]) -> Var<'t> {
        if self.reduces() { g / self.divisor } else { g.reshape(shape) }
    }

    /// Each loss's share of the upstream gradient `g`: `g / divisor` for every loss of a
    /// reduced output, `g[i]` for an unreduced one.
    pub(crate) fn scales(self, upstream: &Tensor, count: usize) -> Vec<f64> {
        if self.reduces() { vec![upstream.item() / self.divisor; count] } else { upstream.data().to_vec() }
    }
}

/// Checks the targets against the logits' shape and returns `(rows, classes)`. The targets
/// have the logits' shape without the class axis, or are one flat list of a target per row.
/// A target equal to `ignore` may lie outside `0..classes`.
#[track_caller]
pub(crate) fn rows_and_classes(op: &str, shape: &[usize], targets: &Indices, ignore: Option<usize>) -> (usize, usize) {
    let (rows, classes) = rows_of(op, shape);
    let (target_shape, targets) = (targets.shape(), targets.data());
    assert!(
        target_shape.len() == 1 || target_shape == row_shape(shape),
        "{op}: targets of shape {target_shape:?} for input of shape {shape:?}: they need the input's shape without \
         its last axis, {:?} (or one flat list of {rows})",
        row_shape(shape)
    );
    assert!(
        targets.len() == rows,
        "{op}: {} targets for input of shape {shape:?}, which has {rows} rows (one target per row)",
        targets.len()
    );
    if let Some((row, &target)) = targets.iter().enumerate().find(|&(_, &t)| t >= classes && Some(t) != ignore) {
        panic!("{op}: target {target} at row {row} is outside 0..{classes} for input of shape {shape:?}");
    }
    (rows, classes)
}

/// `(rows, classes)` of logits of `shape`: the last axis is the class axis.
#[track_caller]
pub(crate) fn rows_of(op: &str, shape: &[usize]) -> (usize, usize) {
    let Some(&classes) = shape.last() else {
        panic!("{op}: input of shape {shape:?} has no class axis; it needs at least one axis");
    };
    (shape[..shape.len() - 1].iter().product(), classes)
}

/// The shape of the per-row losses: the logits' shape without the class axis.
pub(crate) fn row_shape(shape: &[usize]) -> &[usize] {
    &shape[..shape.len() - 1]
}

/// A tensor of `shape` (class axis last) holding `value` at each row's target, 0 elsewhere.
pub(crate) fn onehot(shape: &[usize], targets: &[usize], value: f64) -> Tensor {
    let classes = *shape.last().expect("checked in forward");
    let mut t = Tensor::zeros(shape);
    for (r, &target) in targets.iter().enumerate() {
        t.data_mut()[r * classes + target] = value;
    }
    t
}
