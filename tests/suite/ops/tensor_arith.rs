//! Arithmetic, comparisons, arg-max and sampling on plain tensors; operators on `&Var` and
//! `Sum` for `Var`; the data helpers.

use tapegrad::data::{minibatches, permutation, train_val_split};
use tapegrad::rand::SeedableRng;
use tapegrad::rand::rngs::StdRng;
use tapegrad::{Tape, Tensor, Var};

fn t(data: &[f64], shape: &[usize]) -> Tensor {
    Tensor::new(data.to_vec(), shape).unwrap()
}

/// Off the tape, `+ - * /` give what the same ops on `Var`s give, to the bit, for every
/// broadcast layout and every owned/borrowed mix.
#[test]
fn tensor_arithmetic_matches_the_ops_on_vars() {
    let shapes: [(&[usize], &[usize]); 5] =
        [(&[2, 3], &[2, 3]), (&[2, 3], &[3]), (&[3], &[2, 3]), (&[2, 1, 3], &[4, 1]), (&[], &[2])];
    for (sa, sb) in shapes {
        let a = Tensor::from_fn(sa, |ix| 0.3 + ix.iter().sum::<usize>() as f64 / 3.0);
        let b = Tensor::from_fn(sb, |ix| 1.7 - ix.iter().sum::<usize>() as f64 / 7.0);
        let tape = Tape::new();
        let (va, vb) = (tape.constant(a.clone()), tape.constant(b.clone()));
        assert_eq!(&a + &b, (va + vb).value(), "{sa:?} + {sb:?}");
        assert_eq!(&a - &b, (va - vb).value(), "{sa:?} - {sb:?}");
        assert_eq!(&a * &b, (va * vb).value(), "{sa:?} * {sb:?}");
        assert_eq!(&a / &b, (va / vb).value(), "{sa:?} / {sb:?}");
        assert_eq!(a.clone() + b.clone(), &a + &b);
        assert_eq!(a.clone() * &b, &a * &b);
        assert_eq!(&a - b.clone(), &a - &b);
    }
    let a = t(&[1.0, -2.0], &[2]);
    assert_eq!((&a + 1.0).data(), &[2.0, -1.0]);
    assert_eq!((a.clone() - 1.0).data(), &[0.0, -3.0]);
    assert_eq!((&a * 2.0).data(), &[2.0, -4.0]);
    assert_eq!((a.clone() / 2.0).data(), &[0.5, -1.0]);
    assert_eq!((-&a).data(), &[-1.0, 2.0]);
}

#[test]
#[should_panic(expected = "add: shapes [2, 3] and [4] do not broadcast")]
fn tensor_arithmetic_panics_like_the_ops() {
    let _ = &Tensor::zeros(&[2, 3]) + &Tensor::zeros(&[4]);
}

#[test]
fn comparisons_give_masks_with_broadcasting() {
    let a = t(&[1.0, 2.0, 3.0, f64::NAN], &[2, 2]);
    let b = t(&[2.0, 2.0], &[2]);
    assert_eq!(a.gt(&b).data(), &[0.0, 0.0, 1.0, 0.0]);
    assert_eq!(a.ge(&b).data(), &[0.0, 1.0, 1.0, 0.0]);
    assert_eq!(a.lt(&b).data(), &[1.0, 0.0, 0.0, 0.0]);
    assert_eq!(a.le(&b).data(), &[1.0, 1.0, 0.0, 0.0]);
    assert_eq!(a.eq(&b).data(), &[0.0, 1.0, 0.0, 0.0]);
    assert_eq!(a.ne(&b).data(), &[1.0, 0.0, 1.0, 1.0]); // NaN != anything
    assert_eq!(a.eq_scalar(3.0).data(), &[0.0, 0.0, 1.0, 0.0]);
    assert_eq!(a.gt_scalar(1.5).sum(), 2.0);
    // An accuracy from predictions and targets.
    let logits = t(&[0.1, 0.9, 0.8, 0.2, 0.3, 0.7], &[3, 2]);
    let preds: Vec<f64> = logits.argmax_axis(1).iter().map(|&c| c as f64).collect();
    let targets = t(&[1.0, 0.0, 0.0], &[3]);
    assert_eq!(t(&preds, &[3]).eq(&targets).mean(), 2.0 / 3.0);
}

#[test]
#[should_panic(expected = "gt: shapes [2] and [3] do not broadcast")]
fn comparisons_panic_on_shapes_that_do_not_broadcast() {
    let _ = Tensor::zeros(&[2]).gt(&Tensor::zeros(&[3]));
}

#[test]
fn argmax_and_argmin_follow_pytorch() {
    let x = t(&[3.0, 1.0, 3.0, 0.0, 5.0, -1.0, 2.0, 5.0, -1.0, 4.0, 2.0, 0.0], &[2, 3, 2]);
    assert_eq!(x.argmax(), 4); // first of the tied 5s
    assert_eq!(x.argmin(), 5);
    // x[0] = [[3, 1], [3, 0], [5, -1]], x[1] = [[2, 5], [-1, 4], [2, 0]].
    assert_eq!(x.argmax_axis(0), [0, 1, 0, 1, 0, 1]);
    assert_eq!(x.argmax_axis(1), [2, 0, 0, 0]); // ties go to the first
    assert_eq!(x.argmin_axis(2), [1, 1, 1, 0, 0, 1]);
    // NaN counts as the extreme both ways, as torch.argmax / argmin.
    let n = t(&[1.0, f64::NAN, 5.0], &[3]);
    assert_eq!((n.argmax(), n.argmin()), (1, 1));
}

#[test]
#[should_panic(expected = "argmax_axis: axis 2 is out of range for shape [2, 3]")]
fn argmax_axis_out_of_range_panics() {
    let _ = Tensor::zeros(&[2, 3]).argmax_axis(2);
}

#[test]
fn multinomial_draws_in_proportion_and_without_replacement() {
    let rng = &mut StdRng::seed_from_u64(0);
    let probs = t(&[1.0, 0.0, 3.0, 0.0, 2.0, 2.0], &[2, 3]); // unnormalised rows
    let draws = probs.multinomial(20_000, true, rng);
    assert_eq!(draws.len(), 40_000);
    let (row0, row1) = draws.split_at(20_000);
    assert!(row0.iter().all(|&c| c != 1) && row1.iter().all(|&c| c != 0));
    let frac = row0.iter().filter(|&&c| c == 2).count() as f64 / 20_000.0;
    assert!((frac - 0.75).abs() < 0.015, "{frac}");
    let mut without = t(&[0.5, 0.25, 0.25, 0.0], &[4]).multinomial(3, false, rng);
    without.sort();
    assert_eq!(without, [0, 1, 2]);
}

#[test]
#[should_panic(expected = "multinomial: cannot draw 2 samples without replacement from 1 non-zero weights")]
fn multinomial_without_replacement_needs_enough_categories() {
    t(&[0.0, 1.0], &[2]).multinomial(2, false, &mut StdRng::seed_from_u64(0));
}

#[test]
#[should_panic(expected = "multinomial: weight -1 in probabilities of shape [2] is negative or not finite")]
fn multinomial_refuses_negative_weights() {
    t(&[-1.0, 1.0], &[2]).multinomial(1, true, &mut StdRng::seed_from_u64(0));
}

#[test]
fn operators_on_var_references_record_the_same_nodes() {
    let tape = Tape::new();
    let a = tape.var(Tensor::scalar(3.0));
    let b = tape.var(Tensor::scalar(4.0));
    let (ra, rb) = (&a, &b);
    let y = ra * rb + ra / rb - (-rb) + 2.0 * ra - &a * 1.5 + (a - rb) / 2.0;
    let expected = 12.0 + 0.75 + 4.0 + 6.0 - 4.5 - 0.5;
    assert_eq!(y.item(), expected);
    let grads = y.backward();
    // dy/da = b + 1/b + 2 - 1.5 + 0.5
    assert_eq!(grads.wrt(a).unwrap().item(), 4.0 + 0.25 + 2.0 - 1.5 + 0.5);
}

#[test]
fn sum_of_vars() {
    let tape = Tape::new();
    let xs: Vec<Var> = (1..=4).map(|i| tape.var(Tensor::scalar(i as f64))).collect();
    let total: Var = xs.iter().sum();
    assert_eq!(total.item(), 10.0);
    let grads = xs.iter().map(|x| x * x).sum::<Var>().backward();
    assert_eq!(grads.wrt(xs[2]).unwrap().item(), 6.0);
}

#[test]
#[should_panic(expected = "sum: an empty iterator of Vars has no tape")]
fn sum_of_no_vars_panics() {
    let _: Var = Vec::<Var>::new().into_iter().sum();
}

#[test]
fn data_helpers_cover_every_index_once() {
    let rng = &mut StdRng::seed_from_u64(42);
    let mut p = permutation(100, rng);
    assert_ne!(p, (0..100).collect::<Vec<_>>());
    p.sort();
    assert_eq!(p, (0..100).collect::<Vec<_>>());
    let (train, val) = train_val_split(100, 0.25, rng);
    assert_eq!((train.len(), val.len()), (75, 25));
    let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    let batches = minibatches(&train, 16, rng);
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [16, 16, 16, 16, 11]);
    let mut seen: Vec<usize> = batches.concat();
    seen.sort();
    let mut train_sorted = train.clone();
    train_sorted.sort();
    assert_eq!(seen, train_sorted);
    // The same seed gives the same split.
    assert_eq!(
        train_val_split(10, 0.5, &mut StdRng::seed_from_u64(1)),
        train_val_split(10, 0.5, &mut StdRng::seed_from_u64(1))
    );
}
