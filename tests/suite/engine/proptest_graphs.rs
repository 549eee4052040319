//! Property tests that hunt: random graphs from the whole public op set pass gradcheck; shape
//! and index arithmetic (broadcast, reshape, transpose, narrow, concat) agree with a naive
//! reference; the fused cross-entropy agrees with the composite one on any input, +-inf and
//! NaN rows included, under the policy stated in `fused_matches_composite_cross_entropy`.
//!
//! `TAPEGRAD_PROPTEST_CASES=N` sets the number of cases of each property (default 1000, which
//! keeps this file under a minute in the dev profile on two cores); see docs/reliability.md.

use proptest::prelude::*;
use proptest::test_runner::Config;
use tapegrad::{Gradcheck, Tape, Tensor, Var};

fn cases(default: u32) -> Config {
    let cases = std::env::var("TAPEGRAD_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases, ..Config::default() }
}

/// NumPy broadcasting, written out for the reference (the crate's is private).
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// A shape of rank 1..=3 with sizes 0..=3 (zero-size axes included), and a second shape that
/// broadcasts to it: some of its leading axes dropped, some sizes set to 1.
fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(0usize..=3, 1..=3).prop_flat_map(|s| {
        let rank = s.len();
        (Just(s), 0..=rank, prop::collection::vec(any::<bool>(), rank)).prop_map(|(s, drop, ones)| {
            let other = s.iter().zip(&ones).skip(drop).map(|(&d, &one)| if one { 1 } else { d }).collect();
            (s, other)
        })
    })
}

/// Values in [-1.5, 1.5] from a seed, so that no two are closer than 1e-3 (kinks and ties sit
/// further from every input than gradcheck's step).
fn values(shape: &[usize], seed: u64) -> Tensor {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    Tensor::from_fn(shape, |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state % 3001) as f64 - 1500.0) / 1000.0 + 0.000_37
    })
}

/// One step of a random graph: `choice` picks the op and its parameters, given the current
/// value's shape; ops that do not apply to that shape fall back to `tanh`.
fn step<'t>(tape: &'t Tape, v: Var<'t>, y: Var<'t>, choice: u64) -> Var<'t> {
    let shape = v.shape();
    let rank = shape.len();
    let pick = |n: usize| (choice >> 8) as usize % n.max(1);
    let axis = pick(rank);
    // Means over nothing are NaN (as PyTorch): correct, but then nothing is left to check.
    let empty = shape.contains(&0);
    // Steps of 0.10025: one or two steps are 0.25e-3 or 0.5e-3 off the 1e-3 grid of `values`,
    // so the ramp cannot make two inputs tie (steps of 0.1 could: 1.0 + 0.1 = 1.1).
    let ramp = |shape: &[usize], axis: usize| Tensor::from_fn(shape, |ix| 0.10025 * ix[axis] as f64);
    match choice % 30 {
        0 => v.tanh(),
        1 => v.sigmoid(),
        2 => v.gelu(),
        3 => v.tanh().exp(),
        4 => (v * v + 1.0).log(),
        5 => (v * v + 1.0).sqrt(),
        6 => v.tanh().powf(3.0),
        7 => (v + 0.123).relu(),
        8 => (v + 0.123).abs(),
        9..=12 if broadcast(&shape, &y.shape()).is_some() => match choice % 30 {
            9 => v + y,
            10 => v * y,
            11 => v - y,
            _ => v / (y * y + 1.0),
        },
        13 if rank > 0 => v.sum_axis(axis, choice & 1 == 0),
        14 if rank > 0 && shape[axis] > 0 => v.mean_axis(axis, choice & 1 == 0),
        // The ramp breaks ties among values copied by a broadcast.
        15 if rank > 0 && shape[axis] > 0 => (v + tape.constant(ramp(&shape, axis))).max_axis(axis, choice & 1 == 0),
        16 if rank > 0 => v.softmax(axis),
        17 if rank > 0 => v.log_softmax(axis),
        18 if rank >= 2 => v.transpose(axis, pick(rank * 7) % rank),
        19 => {
            let n: usize = shape.iter().product();
            if choice & 1 == 0 { v.reshape(&[n]) } else { v.reshape(&[1, n]) }
        }
        20 if rank > 0 => {
            let n = shape[axis];
            let start = pick(n + 1);
            v.narrow(axis, start, (choice >> 20) as usize % (n - start + 1))
        }
        21 if rank > 0 => Var::concat(&[v, v.tanh()], axis),
        22 if rank >= 2 => {
            let k = shape[rank - 1];
            v.matmul(tape.constant(values(&[k, 2], choice)))
        }
        23 if rank > 0 && shape[rank - 1] > 1 => {
            let d = shape[rank - 1];
            let (gamma, beta) = (tape.constant(values(&[d], choice)), tape.constant(values(&[d], choice + 1)));
            v.layer_norm(gamma, beta, 1e-5)
        }
        24 => v.masked_fill(&Tensor::from_fn(&shape, |ix| (ix.iter().sum::<usize>() % 2) as f64), -0.5),
        25 => match pick(4) {
            0 => 2.0 * v,
            1 => v / 2.0,
            2 => 1.0 - v,
            _ => -v,
        },
        26 if rank == 2 && shape[0] > 0 => {
            let ids: Vec<usize> = (0..3).map(|i| (choice as usize >> (8 + 4 * i)) % shape[0]).collect();
            v.embedding(&ids)
        }
        27 if rank > 0 && !empty => {
            let rows: usize = shape[..rank - 1].iter().product();
            let targets: Vec<usize> = (0..rows).map(|r| (choice as usize >> (r % 40)) % shape[rank - 1]).collect();
            if choice & 1 == 0 { v.cross_entropy(&targets) } else { v.log_softmax(rank - 1).nll_loss(&targets) }
        }
        28 => v.sum(),
        29 if !empty => v.mean(),
        _ => v.tanh(),
    }
}

/// The graph of `choices` on inputs `v[0]` (threaded through every step) and `v[1]` (the
/// second operand of the binary ops).
fn graph<'t>(choices: &[u64], v: &[Var<'t>]) -> Var<'t> {
    let tape = v[0].tape();
    choices.iter().fold(v[0], |acc, &c| step(tape, acc, v[1], c))
}

proptest! {
    #![proptest_config(cases(1000))]

    /// Random graphs of 3..=12 ops over random broadcastable shapes pass gradcheck (with
    /// respect to both inputs).
    #[test]
    fn random_graphs_pass_gradcheck(
        (x_shape, y_shape) in shapes(),
        choices in prop::collection::vec(any::<u64>(), 3..=12),
        seed in any::<u64>(),
    ) {
        let inputs = [values(&x_shape, seed), values(&y_shape, seed ^ 1)];
        let check = Gradcheck::new().run(&inputs, |v| graph(&choices, v));
        prop_assert!(check.is_ok(), "{}", check.unwrap_err());
    }

    /// A backward that releases values as it goes gives the gradients of one that keeps them,
    /// bit for bit, with the second input a leaf that wants a gradient or a constant (so that
    /// rules compute one input's gradient only and read less).
    #[test]
    fn releasing_backward_matches_keeping_backward(
        (x_shape, y_shape) in shapes(),
        choices in prop::collection::vec(any::<u64>(), 3..=12),
        seed in any::<u64>(),
        y_wants_grad in any::<bool>(),
    ) {
        let (xt, yt) = (values(&x_shape, seed), values(&y_shape, seed ^ 1));
        let run = |release: bool| {
            let tape = Tape::new();
            let x = tape.var(xt.clone());
            let y = if y_wants_grad { tape.var(yt.clone()) } else { tape.constant(yt.clone()) };
            let loss = graph(&choices, &[x, y]).sum();
            let grads = if release { loss.backward_wrt_releasing(&[x, y]) } else { loss.backward_wrt(&[x, y]) };
            (loss.item(), grads.wrt(x).cloned(), grads.wrt(y).cloned())
        };
        prop_assert_eq!(run(true), run(false));
    }

    /// broadcast, reshape, transpose, narrow and concat against naive index arithmetic.
    #[test]
    fn shape_ops_agree_with_a_naive_reference(
        (x_shape, y_shape) in shapes(),
        a in 0usize..3, b in 0usize..3, start in 0usize..4, len in 0usize..4, seed in any::<u64>(),
    ) {
        let tape = Tape::new();
        let (xt, yt) = (values(&x_shape, seed), values(&y_shape, seed ^ 1));
        let (x, y) = (tape.var(xt.clone()), tape.var(yt.clone()));
        let rank = x_shape.len();
        // Broadcast: element ix of the sum reads y at ix with broadcast axes pinned to 0.
        let out = broadcast(&x_shape, &y_shape).unwrap();
        prop_assert_eq!(&out, &x_shape);
        let sum = (x + y).value();
        let offset = rank - y_shape.len();
        let expected = Tensor::from_fn(&out, |ix| {
            let iy: Vec<usize> = y_shape.iter().enumerate().map(|(k, &d)| if d == 1 { 0 } else { ix[k + offset] }).collect();
            xt.get(ix) + yt.get(&iy)
        });
        prop_assert_eq!(&sum, &expected);
        // Reshape keeps row-major order.
        let n: usize = x_shape.iter().product();
        let flat = x.reshape(&[n]).value();
        prop_assert_eq!(flat.data(), xt.data());
        // Transpose swaps the index.
        let (a, b) = (a % rank, b % rank);
        let t = x.transpose(a, b).value();
        let mut t_shape = x_shape.clone();
        t_shape.swap(a, b);
        let expected = Tensor::from_fn(&t_shape, |ix| {
            let mut src = ix.to_vec();
            src.swap(a, b);
            xt.get(&src)
        });
        prop_assert_eq!(&t, &expected);
        // Narrow, when in range; and concat of the two halves gives x back.
        let axis = a;
        if start + len <= x_shape[axis] {
            let part = x.narrow(axis, start, len).value();
            let mut p_shape = x_shape.clone();
            p_shape[axis] = len;
            let expected = Tensor::from_fn(&p_shape, |ix| {
                let mut src = ix.to_vec();
                src[axis] += start;
                xt.get(&src)
            });
            prop_assert_eq!(&part, &expected);
            let (head, tail) = (x.narrow(axis, 0, start), x.narrow(axis, start, x_shape[axis] - start));
            prop_assert_eq!(&Var::concat(&[head, tail], axis).value(), &xt);
        } else {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| x.narrow(axis, start, len)));
            prop_assert!(r.is_err());
        }
    }

    /// The fused cross-entropy against log_softmax -> nll_loss, on rows that may hold +-inf
    /// or NaN. Policy: the two agree to 1e-12 where both are finite; a row holding a NaN, or
    /// `+inf`, makes the loss NaN (inf - inf) and that row's gradient NaN, in both; `-inf`
    /// entries (masked classes) are fine unless the target is one, which makes the loss `+inf`
    /// in both; every other row's gradient stays finite and equal.
    #[test]
    fn fused_matches_composite_cross_entropy(
        rows in 0usize..5, classes in 1usize..5, seed in any::<u64>(),
        specials in prop::collection::vec((0usize..20, 0usize..5), 0..4),
    ) {
        let mut x = values(&[rows, classes], seed);
        let special = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN, 0.0];
        for &(at, which) in &specials {
            if rows > 0 {
                let at = at % (rows * classes);
                x.data_mut()[at] = special[which];
            }
        }
        let targets: Vec<usize> = (0..rows).map(|r| (seed as usize >> r) % classes).collect();
        let tape = Tape::new();
        let v = tape.var(x.clone());
        let (fused, composite) = (v.cross_entropy(&targets), v.log_softmax(1).nll_loss(&targets));
        let (lf, lc) = (fused.item(), composite.item());
        prop_assert!(lf.to_bits() == lc.to_bits() || (lf.is_nan() && lc.is_nan()) || (lf - lc).abs() <= 1e-12, "{} vs {}", lf, lc);
        let row = |r: usize| &x.data()[r * classes..(r + 1) * classes];
        let poisoned = |r: usize| row(r).iter().any(|v| v.is_nan() || *v == f64::INFINITY);
        if rows == 0 || (0..rows).any(poisoned) {
            prop_assert!(lf.is_nan());
        }
        let (gf, gc) = (fused.backward(), composite.backward());
        let (gf, gc) = (gf.wrt(v).unwrap(), gc.wrt(v).unwrap());
        for r in 0..rows {
            let (a, b) = (&gf.data()[r * classes..(r + 1) * classes], &gc.data()[r * classes..(r + 1) * classes]);
            if poisoned(r) {
                prop_assert!(a.iter().all(|g| g.is_nan()) && b.iter().all(|g| g.is_nan()), "row {}: {:?} {:?}", r, a, b);
            } else if lf.is_finite() {
                for (p, q) in a.iter().zip(b) {
                    prop_assert!((p - q).abs() <= 1e-12, "row {}: {:?} vs {:?}", r, a, b);
                }
            }
        }
    }
}
