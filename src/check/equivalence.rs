//! `check_equivalent`: a fused op against its composition from smaller ops, side by side.

use std::fmt;

use crate::autograd::{Tape, Var};
use crate::inspect::{MemoryReport, human_bytes};
use crate::tensor::Tensor;
use crate::tensor::max_propagating_nan;

/// Builds `fused` and `composite` on two fresh tapes from the same `inputs` (all as
/// [`Tape::var`] leaves), runs backward on both with the same seed, and reports the largest
/// differences of the values and of each input's gradient, with both tapes' node counts and
/// bytes kept for backward. Print the result for a table, or call
/// [`Equivalence::assert_within`].
///
/// A one-element output is differentiated directly (seed 1). A larger one is seeded with a
/// fixed, uneven pattern (`sin(1 + 0.7 i)` for element `i`) rather than ones: the gradient of
/// a plain sum can vanish (softmax, layer norm) and would hide a wrong rule.
///
/// Panics when the two outputs' shapes differ.
///
/// ```
/// use tapegrad::{check_equivalent, Tensor};
/// let logits = Tensor::new(vec![0.5, -1.0, 2.0, 0.0, 1.0, 3.0], &[2, 3])?;
/// let eq = check_equivalent(
///     &[logits],
///     |v| v[0].cross_entropy(&[2, 0]),
///     |v| v[0].softmax(1).log().nll_loss(&[2, 0]),
/// );
/// println!("{eq}");
/// eq.assert_within(1e-15);
/// assert_eq!((eq.fused.nodes, eq.composite.nodes), (2, 4));
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[track_caller]
pub fn check_equivalent<F, G>(inputs: &[Tensor], fused: F, composite: G) -> Equivalence
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
    G: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let (fused_tape, composite_tape) = (Tape::new(), Tape::new());
    let (fused_vars, composite_vars) = (fused_tape.vars(inputs), composite_tape.vars(inputs));
    let (y_fused, y_composite) = (fused(&fused_vars), composite(&composite_vars));
    let (value_fused, value_composite) = (y_fused.value(), y_composite.value());
    assert!(
        value_fused.shape() == value_composite.shape(),
        "check_equivalent: the fused output has shape {:?} and the composite one {:?}",
        value_fused.shape(),
        value_composite.shape()
    );
    let shape = value_fused.shape().to_vec();
    let seed = if value_fused.numel() == 1 {
        Tensor::ones(&shape)
    } else {
        let mut i = 0.0_f64;
        Tensor::from_fn(&shape, |_| {
            let s = (1.0 + 0.7 * i).sin();
            i += 1.0;
            s
        })
    };
    let grads_fused = y_fused.backward_with(seed.clone());
    let grads_composite = y_composite.backward_with(seed);
    let grad =
        |grads: &crate::Grads, v: Var, shape: &[usize]| grads.wrt(v).cloned().unwrap_or_else(|| Tensor::zeros(shape));
    let grads = inputs
        .iter()
        .enumerate()
        .map(|(k, input)| {
            let gf = grad(&grads_fused, fused_vars[k], input.shape());
            let gc = grad(&grads_composite, composite_vars[k], input.shape());
            InputDiff { shape: input.shape().to_vec(), grad_diff: gf.max_abs_diff(&gc), grad_scale: max_abs(&gc) }
        })
        .collect();
    Equivalence {
        output_shape: shape,
        value_diff: value_fused.max_abs_diff(&value_composite),
        value_scale: max_abs(&value_composite),
        grads,
        fused: TapeSummary::of(&fused_tape),
        composite: TapeSummary::of(&composite_tape),
    }
}

/// The largest `|a|`.
fn max_abs(a: &Tensor) -> f64 {
    a.data().iter().fold(0.0, |m: f64, x| m.max(x.abs()))
}

/// Node count and bytes of one tape.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapeSummary {
    /// Nodes on the tape, leaves included.
    pub nodes: usize,
    /// Bytes of all forward values it holds.
    pub value_bytes: usize,
    /// Bytes kept alive for backward (see [`MemoryReport::kept_bytes`]).
    pub kept_bytes: usize,
}

impl TapeSummary {
    fn of(tape: &Tape) -> TapeSummary {
        let m = MemoryReport::of(tape);
        TapeSummary { nodes: tape.len(), value_bytes: m.value_bytes(), kept_bytes: m.kept_bytes() }
    }
}

/// One input's row of an [`Equivalence`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct InputDiff {
    /// The input's shape.
    pub shape: Vec<usize>,
    /// The largest `|fused gradient - composite gradient|` over its elements.
    pub grad_diff: f64,
    /// The largest `|composite gradient|`, for scale.
    pub grad_scale: f64,
}

/// The report of [`check_equivalent`]. `Display` prints it as a table.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct Equivalence {
    /// The shape of both outputs.
    pub output_shape: Vec<usize>,
    /// The largest `|fused - composite|` over the output's elements.
    pub value_diff: f64,
    /// The largest `|composite|` output element, for scale.
    pub value_scale: f64,
    /// One row per input.
    pub grads: Vec<InputDiff>,
    /// The fused tape.
    pub fused: TapeSummary,
    /// The composite tape.
    pub composite: TapeSummary,
}

impl Equivalence {
    /// The largest difference of all, values and gradients (NaN if any is NaN).
    pub fn max_diff(&self) -> f64 {
        max_propagating_nan(std::iter::once(self.value_diff).chain(self.grads.iter().map(|g| g.grad_diff)))
    }

    /// Panics, printing the table, unless every difference is at most `tol`.
    #[track_caller]
    pub fn assert_within(&self, tol: f64) {
        let worst = self.max_diff();
        assert!(worst <= tol, "fused and composite differ by {worst:e}, more than {tol:e}:\n{self}");
    }
}

impl fmt::Display for Equivalence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = (&self.fused, &self.composite);
        writeln!(f, "{:<26}{:>14}{:>14}{:>12}{:>12}", "", "fused", "composite", "max |diff|", "scale")?;
        writeln!(f, "{:<26}{:>14}{:>14}", "nodes", a.nodes, b.nodes)?;
        writeln!(f, "{:<26}{:>14}{:>14}", "values held", human_bytes(a.value_bytes), human_bytes(b.value_bytes))?;
        writeln!(f, "{:<26}{:>14}{:>14}", "kept for backward", human_bytes(a.kept_bytes), human_bytes(b.kept_bytes))?;
        let output = format!("output {:?}", self.output_shape);
        writeln!(f, "{output:<26}{:>14}{:>14}{:>12.1e}{:>12.1e}", "", "", self.value_diff, self.value_scale)?;
        for (k, g) in self.grads.iter().enumerate() {
            let label = format!("grad of input {k} {:?}", g.shape);
            writeln!(f, "{label:<26}{:>14}{:>14}{:>12.1e}{:>12.1e}", "", "", g.grad_diff, g.grad_scale)?;
        }
        Ok(())
    }
}
