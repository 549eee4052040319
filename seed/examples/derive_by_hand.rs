//! A student derives the seed model's backward pass by hand, step by step from the loss, as
//! the series does, and checks every step with tapegrad's `Derivation` before taking the
//! next: `P - onehot`, the LM head, layer norm, the feed-forward block and the residual, then
//! the output projection, where the series' published derivation slipped. Each step's
//! gradients are computed with plain tensors from the forward values (no tape), exactly as
//! the formulas in the printout say.
//!
//! ```text
//! cargo run --release --example derive_by_hand
//! ```

use tapegrad::{Derivation, Tape, Tensor, Var};
use tapegrad_seed::chapter::{TARGETS, TOKENS};
use tapegrad_seed::model::{LN_EPS, SeedParams};

/// `f(a_i, b_i)` elementwise.
fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    Tensor::new(a.data().iter().zip(b.data()).map(|(&x, &y)| f(x, y)).collect(), a.shape()).expect("one shape")
}

/// The sum over the rows of a `[rows, d]` tensor.
fn sum_rows(a: &Tensor) -> Tensor {
    let d = a.shape()[1];
    Tensor::from_fn(&[d], |ix| (0..a.shape()[0]).map(|r| a.get(&[r, ix[0]])).sum())
}

/// Row `i`'s mean of `f(a, b)` over the `d` features, broadcast back to `[rows, d]`.
fn row_mean(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let d = a.shape()[1];
    let means: Vec<f64> =
        (0..a.shape()[0]).map(|r| (0..d).map(|j| f(a.get(&[r, j]), b.get(&[r, j]))).sum::<f64>() / d as f64).collect();
    Tensor::from_fn(a.shape(), |ix| means[ix[0]])
}

/// GELU's derivative (tanh approximation): `(1 + t)/2 + x/2 (1 - t^2) k (1 + 3 a x^2)`.
fn gelu_derivative(x: f64) -> f64 {
    let (k, a) = ((2.0 / std::f64::consts::PI).sqrt(), 0.044715);
    let t = (k * (x + a * x * x * x)).tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * a * x * x)
}

/// One step: what the student derived, the hand gradients it adds, and the report on every
/// gradient derived so far.
struct Step<'t> {
    title: &'static str,
    formulas: &'static [&'static str],
    hands: Vec<(&'static str, Var<'t>, Tensor)>,
}

fn main() {
    let params = SeedParams::init();
    let tape = Tape::new();
    let vars = params.vars(&tape);
    let [_, _, _, _, _, w_o, w1, b1, w2, b2, gamma, beta, w_lm] = vars.all;
    let acts = vars.forward(&TOKENS);
    let loss = vars.sum_loss(acts.logits, &TARGETS);
    let v = |x: Var<'_>| x.value();

    // The forward values the student reads (computed again from the model's own values).
    let (logits, ln, res, mh, concat) = (v(acts.logits), v(acts.ln), v(acts.res), v(acts.mh), v(acts.concat));
    let product = mh.matmul(&v(w1).t());
    let hid = Tensor::from_fn(product.shape(), |ix| product.get(ix) + v(b1).get(&[ix[1]]));
    let act = hid.map(|x| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh()));

    // 1. dL/dlogits = P - onehot on the 4 target rows; row 4 (<EOS>) is in no loss.
    let tape_p = Tape::no_grad();
    let p = tape_p.constant(logits.clone()).softmax(1).value();
    let dlogits = Tensor::from_fn(p.shape(), |ix| match TARGETS.get(ix[0]) {
        Some(&target) => p.get(ix) - f64::from(u8::from(target == ix[1])),
        None => 0.0,
    });
    // 2. logits = ln W_lm^T.
    let dw_lm = dlogits.t().matmul(&ln);
    let dln = dlogits.matmul(&v(w_lm));
    // 3. ln = gamma xhat + beta, xhat = (res - mu) r, r = 1/sqrt(var + eps).
    let mu = row_mean(&res, &res, |x, _| x);
    let centred = zip(&res, &mu, |x, m| x - m);
    let r = row_mean(&centred, &centred, |c, _| c * c).map(|var| 1.0 / (var + LN_EPS).sqrt());
    let xhat = zip(&centred, &r, |c, r| c * r);
    let dgamma = sum_rows(&zip(&dln, &xhat, |g, x| g * x));
    let dbeta = sum_rows(&dln);
    let dxhat = Tensor::from_fn(dln.shape(), |ix| dln.get(ix) * v(gamma).get(&[ix[1]]));
    let mean_a = row_mean(&dxhat, &dxhat, |a, _| a);
    let mean_b = row_mean(&dxhat, &xhat, |a, x| a * x);
    let dres = Tensor::from_fn(dxhat.shape(), |ix| {
        r.get(ix) * (dxhat.get(ix) - mean_a.get(ix) - xhat.get(ix) * mean_b.get(ix))
    });
    // 4. res = mh + ffn, ffn = gelu(hid) W2^T + b2, hid = mh W1^T + b1.
    let dffn = dres.clone();
    let db2 = sum_rows(&dffn);
    let dw2 = dffn.t().matmul(&act);
    let dact = dffn.matmul(&v(w2));
    let dhid = zip(&dact, &hid, |g, x| g * gelu_derivative(x));
    let db1 = sum_rows(&dhid);
    let dw1 = dhid.t().matmul(&mh);
    let dmh = zip(&dres, &dhid.matmul(&v(w1)), |a, b| a + b);
    // 5. mh = concat W_O^T: dW_O = dmh^T concat, and dconcat = dmh W_O ... which the series
    // wrote as dmh W_O^T.
    let dw_o = dmh.t().matmul(&concat);
    let dconcat = dmh.matmul(&v(w_o).t());

    let steps = vec![
        Step {
            title: "1. The loss",
            formulas: &["dL/dlogits = P - onehot (rows 0..3; row 4 predicts nothing: 0)"],
            hands: vec![("dlogits", acts.logits, dlogits)],
        },
        Step {
            title: "2. The LM head, logits = ln W_lm^T",
            formulas: &["dW_lm = dlogits^T ln", "dln = dlogits W_lm"],
            hands: vec![("dW_lm", w_lm, dw_lm), ("dln", acts.ln, dln)],
        },
        Step {
            title: "3. Layer norm, ln = gamma xhat + beta",
            formulas: &[
                "dgamma = sum_rows dln xhat, dbeta = sum_rows dln",
                "dres = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = gamma dln",
            ],
            hands: vec![("dgamma", gamma, dgamma), ("dbeta", beta, dbeta), ("dres", acts.res, dres)],
        },
        Step {
            title: "4. The feed-forward block and the residual, res = mh + gelu(mh W1^T + b1) W2^T + b2",
            formulas: &[
                "db2 = sum_rows dres, dW2 = dres^T gelu(hid), dhid = dres W2 gelu'(hid)",
                "db1 = sum_rows dhid, dW1 = dhid^T mh, dmh = dres + dhid W1 (both paths)",
            ],
            hands: vec![("db2", b2, db2), ("dW2", w2, dw2), ("db1", b1, db1), ("dW1", w1, dw1), ("dmh", acts.mh, dmh)],
        },
        Step {
            title: "5. The output projection, mh = concat W_O^T (the series' derivation)",
            formulas: &["dW_O = dmh^T concat", "dconcat = dmh W_O^T"],
            hands: vec![("dW_O", w_o, dw_o), ("dconcat", acts.concat, dconcat)],
        },
    ];

    println!("The seed model's backward pass, derived by hand from the loss, each step checked.");
    println!("(loss: the SUM of the 4 positions' cross-entropies, {:.10})", loss.item());
    let mut so_far: Vec<(&str, Var<'_>, Tensor)> = Vec::new();
    for step in steps {
        println!("\n== {}", step.title);
        for f in step.formulas {
            println!("   {f}");
        }
        so_far.extend(step.hands);
        let mut derivation = Derivation::new(loss).name("W_O", w_o).name("W_lm", w_lm);
        for (name, var, grad) in &so_far {
            derivation = derivation.hand(name, *var, grad);
        }
        print!("{}", derivation.check());
    }
}
