//! A learner derives the backward pass of a small MLP by hand, step by step, makes one
//! deliberate slip, and asks tapegrad's [`Derivation`] which gradients are wrong, where the
//! derivation went wrong and what the slip was.
//!
//! The model: `h = tanh(x W1 + b1)`, `logits = h W2`, mean cross-entropy over 5 rows. The
//! learner's derivation, written with plain tensors (no tape):
//!
//! ```text
//! dlogits = (P - onehot) / 5
//! dW2     = h^T dlogits
//! dh      = dlogits W2          <- the slip: W2 is square (4 x 4), so W2 and W2^T both fit
//! dz      = dh (1 - h^2)
//! db1     = sum over rows of dz
//! dW1     = x^T dz
//! ```
//!
//! ```text
//! cargo run --release --example check_derivation
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::{Derivation, Tape, Tensor};

/// `a b` on plain tensors.
fn product(a: &Tensor, b: &Tensor) -> Tensor {
    let tape = Tape::no_grad();
    tape.constant(a.clone()).matmul(tape.constant(b.clone())).value()
}

/// `a^T`.
fn transposed(a: &Tensor) -> Tensor {
    let tape = Tape::no_grad();
    tape.constant(a.clone()).transpose(0, 1).value()
}

/// `f(a_i, b_i)` elementwise.
fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    Tensor::new(a.data().iter().zip(b.data()).map(|(&x, &y)| f(x, y)).collect(), a.shape()).expect("one shape")
}

/// The learner's hand derivation, from the forward values; with `slip`, `dh = dlogits W2`.
fn derive(x: &Tensor, h: &Tensor, p: &Tensor, w2: &Tensor, targets: &[usize], slip: bool) -> [Tensor; 6] {
    let rows = targets.len() as f64;
    let dlogits = Tensor::from_fn(p.shape(), |ix| (p.get(ix) - f64::from(u8::from(targets[ix[0]] == ix[1]))) / rows);
    let dw2 = product(&transposed(h), &dlogits);
    let dh = if slip { product(&dlogits, w2) } else { product(&dlogits, &transposed(w2)) };
    let dz = zip(&dh, h, |g, h| g * (1.0 - h * h));
    let width = dz.shape()[1];
    let db1 = Tensor::from_fn(&[width], |ix| (0..targets.len()).map(|r| dz.get(&[r, ix[0]])).sum());
    let dw1 = product(&transposed(x), &dz);
    [dlogits, dw2, dh, dz, db1, dw1]
}

fn main() {
    let mut rng = StdRng::seed_from_u64(3);
    let x = Tensor::randn(&[5, 3], &mut rng);
    let targets = [0, 3, 1, 2, 3];
    let tape = Tape::new();
    let xv = tape.constant(x.clone());
    let w1 = tape.var(Tensor::randn(&[3, 4], &mut rng).map(|v| 0.5 * v));
    let b1 = tape.var(Tensor::randn(&[4], &mut rng).map(|v| 0.1 * v));
    let w2 = tape.var(Tensor::randn(&[4, 4], &mut rng).map(|v| 0.5 * v));
    let z = xv.matmul(w1) + b1;
    let h = z.tanh();
    let logits = h.matmul(w2);
    let loss = logits.cross_entropy(&targets);
    println!("The model: h = tanh(x W1 + b1), logits = h W2, mean cross-entropy over 5 rows.");
    println!("Mean loss {:.6}\n", loss.item());

    let p = logits.softmax(1).value();
    for slip in [true, false] {
        let [dlogits, dw2, dh, dz, db1, dw1] = derive(&x, &h.value(), &p, &w2.value(), &targets, slip);
        if slip {
            println!("The learner's derivation, with dh = dlogits W2 (it should be dlogits W2^T):\n");
        } else {
            println!("\nThe derivation with dh fixed to dlogits W2^T:\n");
        }
        let report = Derivation::new(loss)
            .name("W2", w2)
            .name("z", z)
            .hand("dlogits", logits, &dlogits)
            .hand("dW2", w2, &dw2)
            .hand("dh", h, &dh)
            .hand("dz", z, &dz)
            .hand("db1", b1, &db1)
            .hand("dW1", w1, &dw1)
            .check();
        print!("{report}");
        if slip {
            println!("\nSearch: {}", report.search_stats());
        }
    }
}
