//! `linear` (`F.linear`: `x W^T + b`) and `addmm` (`b + x W`): the same values and gradients
//! as the two-node `matmul` then `+`, empty sizes, and the panics. Their gradchecks and second
//! derivatives, with the bias's broadcasting cases and the input's leading axes, are rows of
//! the op table.

use crate::common::{panic_message, randn};
use approx::assert_relative_eq;
use tapegrad::{Tape, Tensor, Var};

fn close(p: &Tensor, q: &Tensor) {
    assert_eq!(p.shape(), q.shape());
    for (u, v) in p.data().iter().zip(q.data()) {
        assert_relative_eq!(u, v, max_relative = 1e-12, epsilon = 1e-12);
    }
}

/// `x`, `w`, `b` as leaves of `tape` and `f` of them.
fn build<'t>(tape: &'t Tape, inputs: &[Tensor; 3], f: fn([Var<'t>; 3]) -> Var<'t>) -> ([Var<'t>; 3], Var<'t>) {
    let leaves = [tape.var(inputs[0].clone()), tape.var(inputs[1].clone()), tape.var(inputs[2].clone())];
    (leaves, f(leaves))
}

/// The fused node and the two nodes it replaces agree on values and on every gradient.
#[test]
fn same_as_matmul_then_add() {
    let inputs = [randn(&[5, 3, 4], 7), randn(&[6, 4], 8), randn(&[6], 9)];
    let (t1, t2, t3) = (Tape::new(), Tape::new(), Tape::new());
    let (fused, y1) = build(&t1, &inputs, |[x, w, b]| x.linear(w, Some(b)));
    let (unfused, y2) = build(&t2, &inputs, |[x, w, b]| x.matmul(w.transpose(0, 1)) + b);
    // addmm, with the weight stored [in, out].
    let (by_addmm, y3) =
        build(&t3, &inputs, |[x, w, b]| b.addmm(x.reshape(&[15, 4]), w.transpose(0, 1)).reshape(&[5, 3, 6]));
    close(&y1.value(), &y2.value());
    close(&y3.value(), &y2.value());
    let (g1, g2, g3) = ((y1 * y1).sum().backward(), (y2 * y2).sum().backward(), (y3 * y3).sum().backward());
    for i in 0..3 {
        close(g1.wrt(fused[i]).unwrap(), g2.wrt(unfused[i]).unwrap());
        close(g3.wrt(by_addmm[i]).unwrap(), g2.wrt(unfused[i]).unwrap());
    }
}

#[test]
fn empty_sizes() {
    let tape = Tape::new();
    // No input features: the output is the bias, and the weight's gradient is empty.
    let (x, w, b) = (tape.var(Tensor::zeros(&[2, 0])), tape.var(Tensor::zeros(&[3, 0])), tape.var(Tensor::ones(&[3])));
    let y = x.linear(w, Some(b));
    assert_eq!(y.value(), Tensor::ones(&[2, 3]));
    let g = y.sum().backward();
    assert_eq!(g.wrt(b).unwrap().data(), &[2.0, 2.0, 2.0]);
    assert_eq!(g.wrt(w).unwrap().shape(), &[3, 0]);
    // No rows: an empty output, zero gradients for the weight and the bias.
    let (x, w, b) = (tape.var(Tensor::zeros(&[0, 2])), tape.var(Tensor::ones(&[3, 2])), tape.var(Tensor::ones(&[3])));
    let y = x.linear(w, Some(b));
    assert_eq!(y.shape(), vec![0, 3]);
    let g = y.sum().backward();
    assert_eq!(g.wrt(w).unwrap(), &Tensor::zeros(&[3, 2]));
    assert_eq!(g.wrt(b).unwrap(), &Tensor::zeros(&[3]));
}

#[test]
fn bad_shapes_panic_naming_the_op_and_every_shape() {
    let run = |x: &[usize], w: &[usize], b: Option<&[usize]>, addmm: bool| {
        let (x, w, b) = (x.to_vec(), w.to_vec(), b.map(<[usize]>::to_vec));
        panic_message(move || {
            let tape = Tape::new();
            let (xv, wv) = (tape.var(Tensor::zeros(&x)), tape.var(Tensor::zeros(&w)));
            let bv = b.map(|b| tape.var(Tensor::zeros(&b)));
            let _ = if addmm { bv.unwrap().addmm(xv, wv) } else { xv.linear(wv, bv) };
        })
    };
    assert_eq!(
        run(&[3, 4], &[2, 5], Some(&[2]), false),
        "linear: shapes [3, 4], [2, 5] and bias [2]: the input's last axis (4) must equal the weight's in_features (5)"
    );
    assert_eq!(
        run(&[3, 4], &[2, 4], Some(&[3]), false),
        "linear: shapes [3, 4], [2, 4] and bias [3]: the bias does not broadcast to the output's shape [3, 2]"
    );
    assert_eq!(
        run(&[3, 4], &[2, 4, 1], None, false),
        "linear: shapes [3, 4] and [2, 4, 1]: the input needs at least 1 axis and the weight exactly 2 ([out_features, in_features])"
    );
    assert_eq!(
        run(&[3, 4], &[5, 2], Some(&[2]), true),
        "addmm: shapes [3, 4], [5, 2] and bias [2]: mat1 and mat2 cannot be multiplied (4 and 5 differ)"
    );
    assert_eq!(
        run(&[2, 3, 4], &[4, 2], Some(&[2]), true),
        "addmm: shapes [2, 3, 4], [4, 2] and bias [2]: mat1 and mat2 must both have 2 axes"
    );
    assert_eq!(
        run(&[3, 4], &[4, 2], Some(&[2, 2, 2]), true),
        "addmm: shapes [3, 4], [4, 2] and bias [2, 2, 2]: the bias does not broadcast to the output's shape [3, 2]"
    );
}

/// Layers large enough that the backward runs `dx`'s and `dW`'s GEMMs side by side, one core
/// each: the gradients are the bits of the two-node form, whose `matmul` runs them one after
/// the other on both cores. The upstream gradient is a fixed tensor (`y * c` summed), so both
/// forms differentiate the same numbers.
#[test]
fn large_layers_give_the_gradients_of_matmul_bit_for_bit() {
    let (rows, k, m) = (256, 128, 96);
    let (x, w, b, c) = (randn(&[rows, k], 21), randn(&[k, m], 22), randn(&[m], 23), randn(&[rows, m], 24));
    let grads = |fused: bool, linear: bool| {
        let tape = Tape::new();
        let w_stored = if linear { Tensor::from_fn(&[m, k], |i| w.get(&[i[1], i[0]])) } else { w.clone() };
        let (xv, wv, bv, cv) = (tape.var(x.clone()), tape.var(w_stored), tape.var(b.clone()), tape.var(c.clone()));
        let y = match (fused, linear) {
            (true, true) => xv.linear(wv, Some(bv)),
            (true, false) => bv.addmm(xv, wv),
            (false, true) => xv.matmul(wv.transpose(0, 1)) + bv,
            (false, false) => xv.matmul(wv) + bv,
        };
        let g = (y * cv).sum().backward();
        [g.wrt(xv).unwrap().clone(), g.wrt(wv).unwrap().clone(), g.wrt(bv).unwrap().clone()]
    };
    for linear in [false, true] {
        // Not `assert_eq!`: a failure would print four tensors of up to 32,768 elements.
        assert!(grads(true, linear) == grads(false, linear), "linear = {linear}: the gradients differ");
    }
}

#[test]
fn products_overflowing_with_opposite_signs_stay_inf_under_fma() {
    // Element [0, 0] is row `[-9.58e100, 2.47e200, -8.41e307]` times column `[-1.91e150,
    // 8.87e300, 2.31]`: the second product is +inf, the third rounds to -inf only when formed
    // alone. PyTorch 2.15 sums the rounded products (`[[nan, 6.3916e307], [-1.44581e301,
    // 1.7946e103]]`); the GEMM accumulates with fused multiply-add, which adds the third
    // product exactly to +inf (docs/reliability.md, a deliberate difference).
    let a = Tensor::new(vec![-9.58e100, 2.47e200, -8.41e307, 1.37, -1.63, 9.5e103], &[2, 3]).unwrap();
    let b = Tensor::new(vec![-1.91e150, 6.58e103, 8.87e300, 3.0, 2.31, -0.76], &[3, 2]).unwrap();
    let y = a.matmul(&b).data()[0];
    // The kernel is chosen at run time: only a CPU without FMA (x86-64 before Haswell) sums
    // rounded products, as PyTorch does.
    #[cfg(target_arch = "x86_64")]
    if !std::arch::is_x86_feature_detected!("fma") {
        assert!(y.is_nan(), "{y}");
        return;
    }
    assert_eq!(y, f64::INFINITY);
}
