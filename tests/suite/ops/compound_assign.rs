//! Compound assignment on `Var` (`+= -= *= /=`, with a `Var`, a `&Var` or an `f64` on the
//! right): micrograd's own test, written as there, and the tape it records.

use tapegrad::{Tape, Tensor, Var};

/// micrograd's `test_more_ops` (test/test_engine.py), line for line; `b**3` is `powf(3.0)`.
/// The expected numbers are PyTorch's (float64), printed by the same program in torch 2.15:
/// `g.data.item()`, `a.grad.item()`, `b.grad.item()`.
#[test]
#[allow(clippy::misrefactored_assign_op)] // `c += c + 1` is micrograd's line, meant as written
fn micrograd_test_more_ops() {
    let tape = Tape::new();
    let a = tape.var(Tensor::scalar(-4.0));
    let b = tape.var(Tensor::scalar(2.0));
    let mut c = a + b;
    let mut d = a * b + b.powf(3.0);
    c += c + 1.0;
    c += 1.0 + c + (-a);
    d += d * 2.0 + (b + a).relu();
    d += 3.0 * d + (b - a).relu();
    let e = c - d;
    let f = e.powf(2.0);
    let mut g = f / 2.0;
    g += 10.0 / f;
    let grads = g.backward();
    let tol = 1e-12;
    assert!((g.item() - 24.70408163265306).abs() < tol, "g = {}", g.item());
    let (da, db) = (grads.wrt(a).unwrap().item(), grads.wrt(b).unwrap().item());
    assert!((da - 138.83381924198252).abs() < tol, "dg/da = {da}");
    assert!((db - 645.5772594752186).abs() < tol, "dg/db = {db}");
}

/// Records `a op= b` and `a = a op b` on two tapes and checks that the tapes' dumps (every
/// node, its value and its gradient) are equal.
fn both_forms(compound: impl for<'t> Fn(&mut Var<'t>, Var<'t>), long: impl for<'t> Fn(Var<'t>, Var<'t>) -> Var<'t>) {
    let record = |assign: bool| {
        let tape = Tape::new();
        let mut a = tape.var(Tensor::new(vec![1.0, -2.0, 3.0], &[3]).unwrap());
        let b = tape.var(Tensor::new(vec![0.5, 4.0, -1.5], &[3]).unwrap());
        if assign {
            compound(&mut a, b);
        } else {
            a = long(a, b);
        }
        let grads = a.sum().backward();
        format!("{}", tape.dump().values().grads(&grads))
    };
    let (with_assign, long_form) = (record(true), record(false));
    assert_eq!(with_assign, long_form);
}

#[test]
fn compound_assignment_records_the_long_forms_nodes() {
    both_forms(|a, b| *a += b, |a, b| a + b);
    both_forms(|a, b| *a -= b, |a, b| a - b);
    both_forms(|a, b| *a *= b, |a, b| a * b);
    both_forms(|a, b| *a /= b, |a, b| a / b);
    both_forms(|a, b| *a += &b, |a, b| a + b);
    both_forms(|a, b| *a /= &b, |a, b| a / b);
    both_forms(|a, _| *a += 2.5, |a, _| a + 2.5);
    both_forms(|a, _| *a -= 2.5, |a, _| a - 2.5);
    both_forms(|a, _| *a *= 2.5, |a, _| a * 2.5);
    both_forms(|a, _| *a /= 2.5, |a, _| a / 2.5);
}

#[test]
fn the_node_named_before_keeps_its_value_and_gets_its_gradient() {
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(3.0));
    let mut y = x * x;
    let before = y;
    y += 1.0;
    y *= before;
    assert_eq!(before.item(), 9.0);
    assert_eq!(y.item(), 90.0);
    let grads = y.backward();
    // y = (x^2 + 1) x^2: dy/d(x^2) = 2 x^2 + 1 = 19, dy/dx = 19 * 2x = 114
    assert_eq!(grads.wrt(before).unwrap().item(), 19.0);
    assert_eq!(grads.wrt(x).unwrap().item(), 114.0);
    assert_eq!(tape.len(), 4); // x, x * x, + 1, * before
}
