//! Transposes of large tensors are strided views (no copy): `matmul` reads them through their
//! strides, everything else sees ordinary row-major values. These tests hold views to the
//! values of the same graphs on gathered copies, and check that a view behaves as an
//! independent value; the op table's view rows check their gradients by finite differences.

use crate::common::randn;
use approx::assert_relative_eq;
use tapegrad::{Tape, Tensor, Var};

/// A copy of `v` in row-major order through an op that knows nothing of views.
fn gathered(v: Var<'_>) -> Var<'_> {
    v * 1.0
}

/// Attention's products on views (`q`, `k`, `v` with the heads moved forward, `k^T`, and the
/// output moved back), against the same graph with every transpose gathered first: the same
/// values and the same gradients.
#[test]
fn attention_products_on_views_match_gathered_copies() {
    let (b, t, h, dk) = (2, 16, 4, 8); // [b, t, h, dk] = 1024 elements: large enough to share
    let inputs = [randn(&[b, t, h, dk], 1), randn(&[b, t, h, dk], 2), randn(&[b, t, h, dk], 3)];
    let run = |gather: bool| {
        let tape = Tape::new();
        let [q, k, v] = inputs.clone().map(|x| tape.var(x));
        let g = |x| if gather { gathered(x) } else { x };
        let (qh, kh, vh) = (g(q.transpose(1, 2)), g(k.transpose(1, 2)), g(v.transpose(1, 2)));
        let scores = qh.matmul(g(kh.transpose(2, 3))); // [b, h, t, t]
        let out = scores.softmax(3).matmul(vh); // [b, h, t, dk]
        let y = g(out.transpose(1, 2)).reshape(&[b * t, h * dk]);
        let w = tape.constant(randn(&[b * t, h * dk], 4));
        let loss = (y * w).sum();
        let grads = loss.backward();
        (y.value().clone(), [q, k, v].map(|x| grads.wrt(x).expect("a gradient").clone()))
    };
    let (y_views, g_views) = run(false);
    let (y_copies, g_copies) = run(true);
    // The GEMM may add in another order for strided operands: equal to rounding.
    assert_relative_eq!(y_views, y_copies, max_relative = 1e-12, epsilon = 1e-13);
    for (a, b) in g_views.iter().zip(&g_copies) {
        assert_relative_eq!(a, b, max_relative = 1e-12, epsilon = 1e-13);
    }
}

/// W6's attention as written: one fused projection narrowed into `q`, `k` and `v`, each split
/// into heads and moved forward (views all the way to the products), against the same graph
/// with every narrow gathered first.
#[test]
fn narrowed_projections_split_into_heads_match_gathered_copies() {
    let (b, t, h, dk) = (2, 16, 4, 8);
    let d = h * dk;
    let inputs = [randn(&[b * t, 3 * d], 21), randn(&[b * t, d], 22)];
    let run = |gather: bool| {
        let tape = Tape::new();
        let [qkv, w] = inputs.clone().map(|x| tape.var(x));
        let split = |part: usize| {
            let x = qkv.narrow(1, part * d, d);
            let x = if gather { gathered(x) } else { x };
            x.reshape(&[b, t, h, dk]).transpose(1, 2)
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let attention = q.matmul(k.transpose(2, 3)).softmax(3).matmul(v);
        let y = attention.transpose(1, 2).reshape(&[b * t, d]);
        let grads = (y * w).sum().backward();
        (y.value().clone(), grads.wrt(qkv).expect("a gradient").clone())
    };
    let ((y_views, g_views), (y_copies, g_copies)) = (run(false), run(true));
    assert_relative_eq!(y_views, y_copies, max_relative = 1e-12, epsilon = 1e-13);
    assert_relative_eq!(g_views, g_copies, max_relative = 1e-12, epsilon = 1e-13);
}

/// `matmul` with a view on either side, with broadcast batch axes, against gathered copies.
#[test]
fn matmul_reads_views_on_either_side_and_broadcasts() {
    let tape = Tape::new();
    let a = tape.var(randn(&[3, 40, 30], 5)); // a.transpose(1, 2): [3, 30, 40]
    let b = tape.var(randn(&[50, 40], 6)); // b.transpose(0, 1): [40, 50], shared by the batch
    let c = tape.var(randn(&[1, 30, 50], 7)); // [1, 50, 30] transposed, broadcast over 3
    let views = a.transpose(1, 2).matmul(b.transpose(0, 1)).matmul(c.transpose(1, 2));
    let copies = gathered(a.transpose(1, 2)).matmul(gathered(b.transpose(0, 1))).matmul(gathered(c.transpose(1, 2)));
    assert_eq!(views.shape(), [3, 30, 30]);
    assert_relative_eq!(views.value().clone(), copies.value().clone(), max_relative = 1e-12);
    let w = tape.constant(randn(&[3, 30, 30], 8));
    let (gv, gc) = ((views * w).sum().backward(), (copies * w).sum().backward());
    for x in [a, b, c] {
        assert_relative_eq!(gv.wrt(x).unwrap(), gc.wrt(x).unwrap(), max_relative = 1e-12, epsilon = 1e-12);
    }
}

/// A view is a value like any tensor: cloning it, writing to the clone, or writing to the
/// tensor it was taken from changes nothing else.
#[test]
fn a_view_is_an_independent_value() {
    let source = Tensor::from_fn(&[40, 30], |i| (i[0] * 30 + i[1]) as f64);
    let tape = Tape::new();
    let transposed = tape.var(source.clone()).transpose(0, 1).value().clone();
    let expected = Tensor::from_fn(&[30, 40], |i| (i[1] * 30 + i[0]) as f64);
    assert_eq!(transposed, expected);
    assert_eq!((transposed.numel(), transposed.get(&[2, 3]), transposed.shape()), (1200, 92.0, &[30, 40][..]));

    let mut written = transposed.clone();
    written.set(&[0, 1], -1.0);
    written.data_mut()[2] = -2.0;
    assert_eq!(transposed, expected, "writing to a clone of a view left the view alone");
    assert_eq!(written.get(&[0, 1]), -1.0);
    assert_eq!(written.data()[2], -2.0);
    assert_eq!(written.data()[3], expected.data()[3]);

    let mut original = source.clone();
    original.data_mut().iter_mut().for_each(|x| *x = 0.0);
    assert_eq!(transposed, expected, "writing to the source left the view alone");

    let reshaped = transposed.clone().reshape(&[1200]).unwrap();
    assert_eq!(reshaped.data(), expected.data());
    assert_eq!(transposed.clone().into_data(), expected.data());
    assert_eq!(transposed.map(|x| x + 1.0), expected.map(|x| x + 1.0));
}

/// concat's and stack's backward pass each part the slice of the upstream gradient it came
/// from (a view of it, for a large gradient): exactly the matching block of `w` in `sum(y * w)`.
#[test]
fn concat_and_stack_gradients_of_large_parts_are_their_slices() {
    let tape = Tape::new();
    let (a, b) = (tape.var(randn(&[40, 30], 31)), tape.var(randn(&[40, 20], 32)));
    let w = randn(&[40, 50], 33);
    let grads = (Var::concat(&[a, b], 1) * tape.constant(w.clone())).sum().backward();
    let block =
        |cols: std::ops::Range<usize>| Tensor::from_fn(&[40, cols.len()], |i| w.get(&[i[0], cols.start + i[1]]));
    assert_eq!(grads.wrt(a).unwrap(), &block(0..30));
    assert_eq!(grads.wrt(b).unwrap(), &block(30..50));

    let (c, d) = (tape.var(randn(&[40, 30], 34)), tape.var(randn(&[40, 30], 35)));
    let w = randn(&[40, 2, 30], 36);
    let grads = (Var::stack(&[c, d], 1) * tape.constant(w.clone())).sum().backward();
    for (k, part) in [c, d].into_iter().enumerate() {
        let expected = Tensor::from_fn(&[40, 30], |i| w.get(&[i[0], k, i[1]]));
        assert_eq!(grads.wrt(part).unwrap(), &expected);
    }
}
