//! Every error of the contract's last section: a `Result` for bad data, a panic naming the op
//! and every shape for a graph that cannot be built.

use crate::common::panic_message;
use tapegrad::{Error, Tape, Tensor};

#[test]
fn a_length_that_does_not_fill_the_shape_is_an_error() {
    let err = Tensor::new(vec![1.0, 2.0, 3.0], &[2, 2]).unwrap_err();
    assert!(matches!(err, Error::LengthMismatch { len: 3, .. }));
    assert_eq!(err.to_string(), "Tensor::new: 3 elements do not fill shape [2, 2] (4 elements)");
    let err = Tensor::ones(&[2, 3]).reshape(&[4]).unwrap_err();
    assert_eq!(err.to_string(), "Tensor::reshape: 6 elements do not fill shape [4] (4 elements)");
}

/// Builds a graph from two leaves of the given shapes on a fresh tape and returns the panic.
fn binary_panic(a: &[usize], b: &[usize], op: fn(tapegrad::Var, tapegrad::Var)) -> String {
    let (a, b) = (a.to_vec(), b.to_vec());
    panic_message(move || {
        let tape = Tape::new();
        op(tape.var(Tensor::zeros(&a)), tape.var(Tensor::zeros(&b)));
    })
}

#[test]
fn shapes_that_do_not_broadcast() {
    assert_eq!(
        binary_panic(&[2, 3], &[4], |a, b| {
            let _ = a + b;
        }),
        "add: shapes [2, 3] and [4] do not broadcast"
    );
    assert_eq!(
        binary_panic(&[2, 3], &[3, 2], |a, b| {
            let _ = a - b;
        }),
        "sub: shapes [2, 3] and [3, 2] do not broadcast"
    );
    assert_eq!(
        binary_panic(&[5], &[2, 3], |a, b| {
            let _ = a * b;
        }),
        "mul: shapes [5] and [2, 3] do not broadcast"
    );
    assert_eq!(
        binary_panic(&[2, 1, 4], &[3, 2], |a, b| {
            let _ = a / b;
        }),
        "div: shapes [2, 1, 4] and [3, 2] do not broadcast"
    );
}

#[test]
fn matmul_shapes() {
    assert_eq!(
        binary_panic(&[2, 3], &[4, 5], |a, b| {
            let _ = a.matmul(b);
        }),
        "matmul: shapes [2, 3] and [4, 5] cannot be multiplied: inner sizes 3 and 4 differ"
    );
    assert_eq!(
        binary_panic(&[3], &[3, 2], |a, b| {
            let _ = a.matmul(b);
        }),
        "matmul: shapes [3] and [3, 2]: both operands need at least 2 axes (reshape a vector to [1, n] or [n, 1])"
    );
    assert_eq!(
        binary_panic(&[2, 2, 3], &[3, 3, 4], |a, b| {
            let _ = a.matmul(b);
        }),
        "matmul: shapes [2, 2, 3] and [3, 3, 4]: batch axes [2] and [3] do not broadcast"
    );
}

#[test]
fn targets_outside_the_classes_or_of_the_wrong_count() {
    let run = |targets: Vec<usize>, fused: bool| {
        panic_message(move || {
            let tape = Tape::new();
            let x = tape.var(Tensor::zeros(&[2, 6]));
            let _ = if fused { x.cross_entropy(&targets) } else { x.nll_loss(&targets) };
        })
    };
    assert_eq!(run(vec![0, 6], true), "cross_entropy: target 6 at row 1 is outside 0..6 for input of shape [2, 6]");
    assert_eq!(run(vec![9, 0], false), "nll_loss: target 9 at row 0 is outside 0..6 for input of shape [2, 6]");
    assert_eq!(
        run(vec![0, 1, 2], true),
        "cross_entropy: 3 targets for input of shape [2, 6], which has 2 rows (one target per row)"
    );
}

#[test]
fn axes_out_of_range() {
    let run = |f: fn(tapegrad::Var)| {
        panic_message(move || {
            let tape = Tape::new();
            f(tape.var(Tensor::zeros(&[2, 3])));
        })
    };
    assert_eq!(
        run(|x| {
            let _ = x.sum_axis(2, false);
        }),
        "sum_axis(2): axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.mean_axis(5, true);
        }),
        "mean_axis(5): axis 5 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.max_axis(2, false);
        }),
        "max_axis: axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.softmax(2);
        }),
        "softmax: axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.log_softmax(3);
        }),
        "log_softmax: axis 3 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.transpose(0, 2);
        }),
        "transpose: axis 2 is out of range for shape [2, 3] (2 axes)"
    );
    assert_eq!(
        run(|x| {
            let _ = x.reshape(&[4]);
        }),
        "reshape: cannot reshape shape [2, 3] (6 elements) to [4] (4 elements)"
    );
}

#[test]
fn backward_on_a_non_scalar() {
    let message = panic_message(|| {
        let tape = Tape::new();
        let _ = tape.var(Tensor::zeros(&[2, 3])).exp().backward();
    });
    assert_eq!(
        message,
        "backward: output of shape [2, 3] is not a single value; reduce it (sum, mean, a loss) \
         or call backward_with(seed) with a seed of that shape"
    );
}

#[test]
fn item_of_a_tensor_with_many_elements() {
    let message = panic_message(|| {
        let _ = Tensor::zeros(&[2, 3]).item();
    });
    assert_eq!(message, "item: tensor of shape [2, 3] has 6 elements, not 1");
}

#[test]
fn operands_from_two_tapes() {
    let message = panic_message(|| {
        let (t1, t2) = (Tape::new(), Tape::new());
        let _ = t1.var(Tensor::scalar(1.0)) + t2.var(Tensor::scalar(2.0));
    });
    assert_eq!(message, "add: the two operands were recorded on different tapes; build the whole graph on one Tape");
}

/// A name of 1 MiB (or of 300 digits) is cut in a message, which says how long it was.
#[test]
fn huge_names_are_cut_in_messages() {
    let huge = "n".repeat(1 << 20);
    let mut params = tapegrad::Params::new();
    params.insert(huge.as_str(), Tensor::scalar(1.0));
    let message = panic_message(|| {
        let mut params = params.clone();
        params.insert(huge.as_str(), Tensor::scalar(1.0));
    });
    assert!(message.len() < 300 && message.contains("…\" (1048576 bytes)"), "{}", &message[..300.min(message.len())]);
    let digits = "9".repeat(300);
    let message = panic_message(|| {
        let _ = &params[digits.as_str()];
    });
    assert!(message.len() < 500 && message.contains("(300 bytes)"), "{}", &message[..500.min(message.len())]);
    let mut grads = tapegrad::ParamGrads::new();
    grads.insert(digits.as_str(), Tensor::scalar(1.0));
    let message = panic_message(|| {
        use tapegrad::optim::Optimizer;
        tapegrad::optim::Sgd::new(0.1).step(&mut params.clone(), &grads);
    });
    assert!(message.len() < 300 && message.contains("(300 bytes)"), "{}", &message[..300.min(message.len())]);
}

/// A number from outside (an element of a tensor, a value in a file) shows in a message in
/// its shortest exact form, `1e300` rather than `1` and 300 zeros (Rust's `{}` of an `f64`
/// writes every digit), and a key read from a file is cut as a name is.
#[test]
fn numbers_and_keys_from_outside_are_short_in_messages() {
    use tapegrad::optim::{Adam, CosineLr, LrScheduler};
    let short = |message: &str, shows: &str| {
        assert!(
            message.len() < 300 && message.contains(shows),
            "{} ({} bytes)",
            &message[..300.min(message.len())],
            message.len()
        );
    };
    for (value, shows) in [(1e300, "1e300"), (-5e-324, "-5e-324"), (0.5, "0.5")] {
        let not_an_index = tapegrad::Indices::try_from(&Tensor::new(vec![value], &[1]).unwrap()).unwrap_err();
        short(&not_an_index.to_string(), &format!(": {shows} at [0]"));
    }
    short(
        &panic_message(|| {
            drop(Tensor::new(vec![-1e300, 1.0], &[2]).unwrap().multinomial(1, false, &mut crate::common::rng(1)))
        }),
        "weight -1e300",
    );
    let huber = || {
        let tape = Tape::new();
        let x = tape.var(Tensor::zeros(&[2]));
        let _ = x.huber_loss(x, -1e300, tapegrad::Reduction::Sum);
    };
    short(&panic_message(huber), "delta -1e300");

    // Files: an optimizer's state and a scheduler's.
    let path = std::env::temp_dir().join(format!("tapegrad-errors-numbers-{}.safetensors", std::process::id()));
    let save = |pairs: &[(&str, Tensor)]| {
        let pairs: Vec<(&str, &Tensor)> = pairs.iter().map(|(n, t)| (*n, t)).collect();
        tapegrad::checkpoint::save(&path, &pairs).unwrap();
    };
    let pair = |a: f64, b: f64| Tensor::new(vec![a, b], &[2]).unwrap();
    let (one, steps) = (Tensor::scalar(1.0), ("steps", Tensor::scalar(1.0)));
    save(&[
        steps.clone(),
        ("w.step", one.clone()),
        ("w.exp_avg", pair(0.0, 0.0)),
        ("w.exp_avg_sq", pair(0.1, -1e-300)),
    ]);
    short(&Adam::new(0.1).load_state(&path).unwrap_err().to_string(), "negative value -1e-300");
    let huge = format!("{}.step", "n".repeat(1 << 20));
    save(&[steps.clone(), (huge.as_str(), Tensor::scalar(0.5))]);
    short(&Adam::new(0.1).load_state(&path).unwrap_err().to_string(), "is not a step count");
    save(&[steps, (huge.as_str(), one)]);
    short(&Adam::new(0.1).load_state(&path).unwrap_err().to_string(), "lacks");
    let mut opt = Adam::new(0.1);
    let mut sched = LrScheduler::new(&mut opt, CosineLr::new(0.1, 10));
    save(&[("last_epoch", Tensor::scalar(1e300)), ("last_lr", Tensor::scalar(0.1))]);
    short(&sched.load_state(&path, &mut opt).unwrap_err().to_string(), "is 1e300, not a step count");
    // A checkpoint's header: a 300-digit size, offset or dtype is quoted at most in part.
    let digits = "9".repeat(300);
    for entry in [
        format!(r#"{{"dtype":"F64","shape":[{digits}],"data_offsets":[0,8]}}"#),
        format!(r#"{{"dtype":"F64","shape":[1],"data_offsets":[0,{digits}]}}"#),
        format!(r#"{{"dtype":"F{digits}","shape":[1],"data_offsets":[0,8]}}"#),
    ] {
        let header = format!(r#"{{"t":{entry}}}"#);
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend([0; 8]);
        std::fs::write(&path, bytes).unwrap();
        let message = tapegrad::checkpoint::load(&path).unwrap_err().to_string();
        assert!(message.len() < 400 && message.contains("not a valid safetensors file"), "{message}");
    }
    std::fs::remove_file(&path).unwrap();
}
