//! `gather`, `index_select` and `where_` (their gradchecks, with broadcasting for `where_`, are
//! rows of the op table): PyTorch's values pinned (float64, `x = arange(12.).reshape(3, 4)`; the gradient is that of
//! `(y * w).sum()` with `w = arange(1, y.numel() + 1)` shaped like `y`), and panics naming
//! op, shapes and the bad index.

use crate::common::{panic_message, randn};
use tapegrad::{Tape, Tensor, Var};

fn t(data: &[f64], shape: &[usize]) -> Tensor {
    Tensor::new(data.to_vec(), shape).unwrap()
}

/// `f(x)` for `x = arange(12).reshape(3, 4)` and the gradient of `sum(f(x) * w)`.
fn weighted(f: impl for<'t> Fn(Var<'t>) -> Var<'t>) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_fn(&[3, 4], |ix| (ix[0] * 4 + ix[1]) as f64));
    let y = f(x);
    let n = y.value().numel();
    let w = tape.constant(Tensor::new((1..=n).map(|i| i as f64).collect(), &y.shape()).unwrap());
    let grads = (y * w).sum().backward();
    (y.value().data().to_vec(), grads.wrt(x).unwrap().data().to_vec())
}

#[test]
fn gather_as_pytorch() {
    // torch.gather(x, 1, tensor([[3, 0, 3], [1, 1, 2]])): repeated picks sum their gradients
    let (y, dx) = weighted(|x| x.gather(1, &t(&[3.0, 0.0, 3.0, 1.0, 1.0, 2.0], &[2, 3])));
    assert_eq!(y, [3.0, 0.0, 3.0, 5.0, 5.0, 6.0]);
    assert_eq!(dx, [2.0, 0.0, 0.0, 4.0, 0.0, 9.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    // torch.gather(x, 0, tensor([[2, 0, 1, 2], [2, 2, 0, 0]]))
    let (y, dx) = weighted(|x| x.gather(0, &t(&[2.0, 0.0, 1.0, 2.0, 2.0, 2.0, 0.0, 0.0], &[2, 4])));
    assert_eq!(y, [8.0, 1.0, 6.0, 11.0, 8.0, 9.0, 2.0, 3.0]);
    assert_eq!(dx, [0.0, 2.0, 7.0, 8.0, 0.0, 0.0, 3.0, 0.0, 6.0, 6.0, 0.0, 4.0]);
}

#[test]
fn index_select_as_pytorch() {
    // torch.index_select(x, 1, tensor([3, 1, 3]))
    let (y, dx) = weighted(|x| x.index_select(1, &[3, 1, 3]));
    assert_eq!(y, [3.0, 1.0, 3.0, 7.0, 5.0, 7.0, 11.0, 9.0, 11.0]);
    assert_eq!(dx, [0.0, 2.0, 0.0, 4.0, 0.0, 5.0, 0.0, 10.0, 0.0, 8.0, 0.0, 16.0]);
    // index_select along axis 0 is the embedding lookup.
    let tape = Tape::new();
    let table = tape.var(randn(&[4, 3], 110));
    assert_eq!(table.index_select(0, &[2, 0, 2]).value(), table.embedding(&[2, 0, 2]).value());
    assert_eq!(table.index_select(1, &[]).shape(), [4, 0]);
}

#[test]
fn gather_and_index_select_check_their_indices() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[3, 4]));
    let msg = |f: &dyn Fn()| panic_message(std::panic::AssertUnwindSafe(f));
    // PyTorch: "index 4 is out of bounds for dimension 1 with size 4"
    assert_eq!(
        msg(&|| {
            let _ = x.gather(1, &t(&[0.0, 4.0], &[1, 2]));
        }),
        "gather: index 4 at [0, 1] is outside 0..4 (or not a whole number) for axis 1 of input shape [3, 4] \
         (index shape [1, 2])"
    );
    assert_eq!(
        msg(&|| {
            let _ = x.gather(1, &t(&[-1.0], &[1, 1]));
        }),
        "gather: index -1 at [0, 0] is outside 0..4 (or not a whole number) for axis 1 of input shape [3, 4] \
         (index shape [1, 1])"
    );
    assert!(
        msg(&|| {
            let _ = x.gather(0, &t(&[0.5], &[1, 1]));
        })
        .starts_with("gather: index 0.5 at [0, 0]")
    );
    assert_eq!(
        msg(&|| {
            let _ = x.gather(0, &t(&[0.0], &[1]));
        }),
        "gather: index of shape [1] and input of shape [3, 4] differ in rank"
    );
    assert_eq!(
        msg(&|| {
            let _ = x.gather(0, &Tensor::zeros(&[1, 5]));
        }),
        "gather: index of shape [1, 5] is larger than input of shape [3, 4] on axis 1"
    );
    assert_eq!(
        msg(&|| {
            let _ = x.index_select(0, &[1, 3]);
        }),
        "index_select: id 3 at position 1 is outside 0..3 for axis 0 of input shape [3, 4]"
    );
    assert_eq!(
        msg(&|| {
            let _ = x.index_select(2, &[0]);
        }),
        "index_select: axis 2 is out of range for shape [3, 4] (2 axes)"
    );
}

#[test]
fn where_broadcasts_all_three_as_pytorch() {
    // torch.where(tensor([True, False, True]), a, b), a = [[1., 2., 3.]], b = [[10.], [20.]]
    let tape = Tape::new();
    let a = tape.var(t(&[1.0, 2.0, 3.0], &[1, 3]));
    let b = tape.var(t(&[10.0, 20.0], &[2, 1]));
    let y = Var::where_(&t(&[1.0, 0.0, 1.0], &[3]), a, b);
    assert_eq!(y.shape(), [2, 3]);
    assert_eq!(y.value().data(), &[1.0, 10.0, 3.0, 1.0, 20.0, 3.0]);
    let w = tape.constant(Tensor::from_fn(&[2, 3], |ix| (ix[0] * 3 + ix[1] + 1) as f64));
    let grads = (y * w).sum().backward();
    assert_eq!(grads.wrt(a).unwrap().data(), &[5.0, 0.0, 9.0]);
    assert_eq!(grads.wrt(b).unwrap().data(), &[2.0, 5.0]);
}

#[test]
fn where_panics_naming_every_shape() {
    let msg = panic_message(|| {
        let tape = Tape::new();
        let _ = Var::where_(&Tensor::zeros(&[2, 3]), tape.var(Tensor::zeros(&[4])), tape.var(Tensor::zeros(&[3])));
    });
    assert_eq!(msg, "where_: shapes [2, 3], [4] and [3] do not broadcast");
}
