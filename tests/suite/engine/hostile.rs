//! Hostile inputs: NaN of both signs, infinities, subnormals and -0.0 through every row of the
//! op table (`tests/suite/op_table.rs`) forward and backward (no panic, NaN propagated as
//! PyTorch propagates it), and every index a public function takes (targets, ids, axes, starts, multi-indices) at and past its bound, which must
//! panic naming the op. Thread-safety of the public types is asserted statically.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::op_table::op_cases;
use tapegrad::{Grads, Tape, Tensor, Var};

/// The panic message of `f`, or a failure when it does not panic.
fn panic_message(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
}

const SPECIALS: [f64; 9] = [
    f64::NAN,
    -f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    f64::MIN_POSITIVE / 4.0, // subnormal
    -5e-324,                 // the smallest negative subnormal
    f64::MAX,
];

/// The NaN x86 makes for `inf - inf`.
fn negative_nan() -> f64 {
    f64::from_bits(0xfff8_0000_0000_0000)
}

/// The one-input elementwise ops.
fn elementwise(x: Var<'_>) -> Vec<(&'static str, Var<'_>)> {
    vec![
        ("powf", x.powf(2.5)),
        ("exp", x.exp()),
        ("log", x.log()),
        ("sqrt", x.sqrt()),
        ("tanh", x.tanh()),
        ("relu", x.relu()),
        ("sigmoid", x.sigmoid()),
        ("abs", x.abs()),
        ("gelu", x.gelu()),
    ]
}

/// Every row of the op table with a special value at the first and the next-to-last element
/// of each input in turn: forward, backward and the recorded backward run without a panic.
#[test]
fn special_values_go_through_every_op_forward_and_backward_without_a_panic() {
    for case in op_cases() {
        for (k, input) in case.inputs.iter().enumerate() {
            let n = input.numel();
            for at in if n == 0 { vec![] } else { vec![0, n.saturating_sub(2)] } {
                for special in SPECIALS.into_iter().chain([negative_nan()]) {
                    let mut inputs = case.inputs.clone();
                    inputs[k].data_mut()[at] = special;
                    let tape = Tape::new();
                    let vars = tape.vars(&inputs);
                    let run = catch_unwind(AssertUnwindSafe(|| {
                        let y = (case.f)(&vars);
                        let _ = y.backward_with(Tensor::ones(&y.shape()));
                        let _ = y.backward_graph_with(tape.constant(Tensor::ones(&y.shape())));
                    }));
                    assert!(run.is_ok(), "{} panicked on {special:?} at input {k}, element {at}", case.name);
                }
            }
        }
    }
}

#[test]
fn nan_of_either_sign_propagates_through_every_elementwise_op() {
    for nan in [f64::NAN, -f64::NAN, negative_nan()] {
        let tape = Tape::new();
        let x = tape.var(Tensor::new(vec![nan, 1.0], &[2]).unwrap());
        let mut ops = vec![("add", x + 1.0), ("mul", x * 2.0), ("div", 1.0 / x), ("softmax", x.softmax(0))];
        ops.extend(elementwise(x));
        for (name, y) in ops {
            let value = y.value();
            assert!(value.data()[0].is_nan(), "{name}({nan:?}) = {value:?}");
            // Where the derivative depends on x, the gradient of the NaN element is NaN (the
            // others are constants, 1 or 2 as PyTorch; relu and abs at NaN are in
            // tests/suite/engine/nan_semantics.rs).
            let g = y.sum().backward();
            let g0 = g.wrt(x).unwrap().data()[0];
            let depends_on_x = !matches!(name, "add" | "mul" | "relu" | "abs");
            assert!(g0.is_nan() || !depends_on_x, "{name}: gradient {g0:?} at {nan:?}");
        }
        // Reductions: the NaN reaches the result.
        for (name, y) in [("sum", x.sum()), ("mean", x.mean()), ("max_axis", x.max_axis(0, false))] {
            assert!(y.item().is_nan(), "{name}");
        }
    }
}

#[test]
fn negative_zero_and_subnormals_keep_their_values() {
    let tape = Tape::new();
    let tiny = 5e-324;
    let x = tape.var(Tensor::new(vec![-0.0, tiny, -tiny], &[3]).unwrap());
    assert_eq!(
        (x * 1.0).value().data().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        [(-0.0f64).to_bits(), tiny.to_bits(), (-tiny).to_bits()]
    );
    assert_eq!(x.abs().value().data(), &[0.0, tiny, tiny]);
    assert_eq!(x.relu().value().data(), &[0.0, tiny, 0.0]);
    let e = x.exp().value();
    assert!(e.data().iter().all(|&v| v == 1.0), "{e:?}");
    assert_eq!(x.sum().item(), 0.0);
}

/// Indices one past the bound, and far past it (where `start + len` would wrap).
#[test]
fn every_index_past_its_bound_panics_naming_the_op() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let big = usize::MAX;
    type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "narrow",
            Box::new(|| {
                let _ = x.narrow(1, 3, 1);
            }),
        ),
        (
            "narrow",
            Box::new(|| {
                let _ = x.narrow(1, 2, 2);
            }),
        ),
        (
            "narrow",
            Box::new(|| {
                let _ = x.narrow(1, big, 2);
            }),
        ),
        (
            "narrow",
            Box::new(|| {
                let _ = x.narrow(2, 0, 1);
            }),
        ),
        (
            "transpose",
            Box::new(|| {
                let _ = x.transpose(0, 2);
            }),
        ),
        (
            "transpose",
            Box::new(|| {
                let _ = x.transpose(big, 0);
            }),
        ),
        (
            "sum_axis",
            Box::new(|| {
                let _ = x.sum_axis(2, false);
            }),
        ),
        (
            "mean_axis",
            Box::new(|| {
                let _ = x.mean_axis(big, true);
            }),
        ),
        (
            "max_axis",
            Box::new(|| {
                let _ = x.max_axis(2, false);
            }),
        ),
        (
            "softmax",
            Box::new(|| {
                let _ = x.softmax(2);
            }),
        ),
        (
            "log_softmax",
            Box::new(|| {
                let _ = x.log_softmax(big);
            }),
        ),
        (
            "concat",
            Box::new(|| {
                let _ = Var::concat(&[x, x], 2);
            }),
        ),
        (
            "cross_entropy",
            Box::new(|| {
                let _ = x.cross_entropy(&[0, 3]);
            }),
        ),
        (
            "cross_entropy",
            Box::new(|| {
                let _ = x.cross_entropy(&[big, 0]);
            }),
        ),
        (
            "cross_entropy",
            Box::new(|| {
                let _ = x.cross_entropy(&[0]);
            }),
        ),
        (
            "nll_loss",
            Box::new(|| {
                let _ = x.nll_loss(&[3, 0]);
            }),
        ),
        (
            "nll_loss",
            Box::new(|| {
                let _ = x.nll_loss(&[0, 0, 0]);
            }),
        ),
        (
            "embedding",
            Box::new(|| {
                let _ = x.embedding(&[2]);
            }),
        ),
        (
            "embedding",
            Box::new(|| {
                let _ = x.embedding(&[0, big]);
            }),
        ),
        (
            "reshape",
            Box::new(|| {
                let _ = x.reshape(&[7]);
            }),
        ),
        (
            "reshape",
            Box::new(|| {
                let _ = x.reshape(&[big, 2]);
            }),
        ),
    ];
    for (op, f) in cases {
        let msg = panic_message(f);
        assert!(msg.starts_with(op), "expected a panic naming {op}: {msg}");
    }
    let t = Tensor::zeros(&[2, 3]);
    for index in [[2, 0], [0, 3], [big, 0]] {
        let msg = panic_message(|| {
            let _ = t.get(&index);
        });
        assert!(msg.contains(&format!("{index:?}")) && msg.contains("[2, 3]"), "{msg}");
    }
    let msg = panic_message(|| Tensor::zeros(&[2, 3]).set(&[0, 0, 0], 1.0));
    assert!(msg.contains("[0, 0, 0]"), "{msg}");
    let msg = panic_message(|| {
        let _ = t.item();
    });
    assert!(msg.starts_with("item:"), "{msg}");
}

#[test]
fn tensors_and_grads_are_send_and_sync_and_a_tape_is_send() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Tensor>();
    send_sync::<Grads>();
    send::<Tape>();
    // A tape is not Sync (its nodes sit in a RefCell). The probe tells both ways.
    assert!(!is_sync!(Tape) && is_sync!(Tensor) && is_sync!(Grads));
}

/// Whether a concrete type is `Sync`, by autoref specialisation (stable Rust): the method on
/// `&Probe<T>` exists only when `T: Sync`, and is preferred to the one on `Probe<T>`.
struct Probe<T>(std::marker::PhantomData<T>);
trait NotSync {
    fn sync(&self) -> bool {
        false
    }
}
impl<T> NotSync for Probe<T> {}
#[allow(dead_code)] // used through `is_sync!`, which the lint does not see
trait IsSync {
    fn sync(&self) -> bool {
        true
    }
}
impl<T: Sync> IsSync for &Probe<T> {}
macro_rules! is_sync {
    ($t:ty) => {
        (&&Probe::<$t>(std::marker::PhantomData)).sync()
    };
}
use is_sync;

/// Runs `f` on another thread and fails when it has not returned within `seconds` (a hang
/// fails the test instead of stalling the run).
fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(f()));
    receive.recv_timeout(std::time::Duration::from_secs(seconds)).expect("did not return in time")
}

/// A shape like [2^40, 0] is valid (empty), and joining or printing it costs nothing.
#[test]
fn huge_empty_shapes_join_and_print_without_work() {
    let rows = 1usize << 40;
    let shapes = within(10, move || {
        let tape = Tape::new();
        let a = tape.var(Tensor::zeros(&[rows, 0]));
        let b = tape.var(Tensor::zeros(&[rows, 0]));
        let c = Var::concat(&[a, b], 1);
        let s = Var::stack(&[a, b], 1);
        let grads = (c.sum() + s.sum()).backward();
        (c.shape(), s.shape(), grads.wrt(a).unwrap().shape().to_vec())
    });
    assert_eq!(shapes, (vec![rows, 0], vec![rows, 2, 0], vec![rows, 0]));
    let printed = within(10, move || Tensor::zeros(&[rows, 0]).to_string());
    assert_eq!(printed, "[], shape=[1099511627776, 0]");
    assert_eq!(Tensor::zeros(&[0]).to_string(), "[]");
    // Stacking adds an axis, whose size must not overflow either.
    let msg = panic_message(|| {
        let tape = Tape::new();
        let a = tape.var(Tensor::zeros(&[1 << 62, 0]));
        let _ = Var::stack(&[a, a, a, a, a, a, a, a], 0);
    });
    assert!(msg.starts_with("stack:") && msg.contains("overflows"), "{msg}");
}

#[test]
fn jacobians_too_large_to_hold_panic_naming_their_size() {
    let x = Tensor::zeros(&[100_000]);
    let msg = panic_message(|| {
        let _ = tapegrad::hessian(|v| (v * v).sum(), &x);
    });
    assert!(msg.starts_with("hessian:") && msg.contains("10000000000 entries (80000000000 bytes)"), "{msg}");
    let msg = panic_message(|| {
        let _ = tapegrad::jacobian(|v| v.exp(), &x);
    });
    assert!(msg.starts_with("jacobian:") && msg.contains("MAX_JACOBIAN_ENTRIES"), "{msg}");
    let msg = panic_message(|| {
        let _ = tapegrad::gradcheck(std::slice::from_ref(&x), |v| v[0].exp());
    });
    assert!(msg.starts_with("gradcheck:"), "{msg}");
    // Below the limit it works as ever.
    let j = tapegrad::jacobian(|v| v.broadcast_to(&[1000]), &Tensor::scalar(1.0));
    assert_eq!(j.shape(), &[1000]);
}

#[test]
fn multinomial_checks_its_count_before_allocating() {
    use tapegrad::rand::{SeedableRng, rngs::StdRng};
    let probs = Tensor::new(vec![0.5, 0.5], &[2]).unwrap();
    let msg = panic_message(|| {
        probs.multinomial(1_000_000_000_000, false, &mut StdRng::seed_from_u64(0));
    });
    assert!(msg.contains("cannot draw 1000000000000 samples without replacement from 2"), "{msg}");
    let msg = panic_message(|| {
        probs.multinomial(1 << 62, true, &mut StdRng::seed_from_u64(0));
    });
    assert!(msg.starts_with("multinomial: cannot allocate"), "{msg}");
}

/// A custom op whose differentiable backward returns a Var of another tape.
struct Stray;

impl tapegrad::CustomOp for Stray {
    fn name(&self) -> String {
        "stray".into()
    }
    fn forward(&self, inputs: &[&Tensor]) -> Tensor {
        inputs[0].clone()
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, upstream: &Tensor) -> Vec<Option<Tensor>> {
        vec![Some(upstream.clone())]
    }
    fn backward_graph<'t>(&self, _: &[Var<'t>], _: Var<'t>, g: Var<'t>) -> Option<Vec<Option<Var<'t>>>> {
        // Leaked so that its Vars outlive the call: what a careless op might do.
        let other: &'t Tape = Box::leak(Box::new(Tape::new()));
        Some(vec![Some(other.var(g.value()))])
    }
}

#[test]
fn a_custom_backward_graph_on_another_tape_panics_naming_the_op() {
    let msg = panic_message(|| {
        let tape = Tape::new();
        let x = tape.var(Tensor::new(vec![1.0, 2.0], &[2]).unwrap());
        let _ = Var::custom(&[x], Stray).sum().backward_graph();
    });
    assert!(msg.contains("custom op stray") && msg.contains("another tape"), "{msg}");
}
