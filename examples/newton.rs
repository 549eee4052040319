//! Second-order optimisation with tapegrad's Hessians: a small softmax regression fitted by
//! gradient descent, by Newton's method with the full Hessian ([`hessian`]), and by
//! Hessian-free Newton, which solves each Newton step by conjugate gradient using only
//! Hessian-vector products ([`hvp`]: one recorded backward and one plain backward each, the
//! Hessian never formed). The loss is printed per iteration: Newton converges in a handful of
//! steps, where gradient descent is still far away.
//!
//! The loss is the mean cross-entropy of `X W` plus `lambda/2 |W|^2`. Without the penalty the
//! Hessian is singular (adding the same vector to every class's weights changes nothing) and,
//! on separable data, the minimum is at infinity.
//!
//! ```text
//! cargo run --release --example newton
//! ```

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use tapegrad::{Tape, Tensor, Var, hessian, hvp};

const SAMPLES: usize = 90;
const FEATURES: usize = 3; // two coordinates and a constant 1 (the bias)
const CLASSES: usize = 3;
const LAMBDA: f64 = 1e-2;
const STEPS: usize = 8;

/// Three Gaussian clouds in the plane, one per class, with a bias column.
fn data() -> (Tensor, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(7);
    let noise = Normal::new(0.0, 1.0).expect("a valid normal");
    let centres = [(-2.0, 0.0), (2.0, 0.5), (0.0, 2.5)];
    let mut x = Vec::with_capacity(SAMPLES * FEATURES);
    let mut y = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let class = i % CLASSES;
        let (cx, cy) = centres[class];
        x.extend([cx + noise.sample(&mut rng), cy + noise.sample(&mut rng), 1.0]);
        y.push(class);
    }
    (Tensor::new(x, &[SAMPLES, FEATURES]).expect("SAMPLES x FEATURES"), y)
}

/// The regularised loss of weights `w` (`[FEATURES, CLASSES]`).
fn loss<'t>(w: Var<'t>, x: &Tensor, y: &[usize]) -> Var<'t> {
    let x = w.tape().constant(x.clone());
    x.matmul(w).cross_entropy(y) + LAMBDA / 2.0 * (w * w).sum()
}

/// The loss and its gradient at `w`.
fn loss_and_gradient(w: &Tensor, x: &Tensor, y: &[usize]) -> (f64, Tensor) {
    let tape = Tape::new();
    let wv = tape.var(w.clone());
    let l = loss(wv, x, y);
    (l.item(), l.backward().take(wv).expect("the loss depends on w"))
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    (a * b).sum()
}

/// Solves `h d = g` for a symmetric positive definite `h` (`[n, n]`) by Cholesky.
fn solve_spd(h: &Tensor, g: &[f64]) -> Vec<f64> {
    let n = g.len();
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            l[i * n + j] =
                if i == j { (h.data()[i * n + i] - s).sqrt() } else { (h.data()[i * n + j] - s) / l[j * n + j] };
        }
    }
    let mut z = vec![0.0; n];
    for i in 0..n {
        z[i] = (g[i] - (0..i).map(|k| l[i * n + k] * z[k]).sum::<f64>()) / l[i * n + i];
    }
    let mut d = vec![0.0; n];
    for i in (0..n).rev() {
        d[i] = (z[i] - (i + 1..n).map(|k| l[k * n + i] * d[k]).sum::<f64>()) / l[i * n + i];
    }
    d
}

/// One Newton step with the full Hessian: `w - H^-1 g`.
fn newton_step(w: &Tensor, x: &Tensor, y: &[usize]) -> Tensor {
    let (_, g) = loss_and_gradient(w, x, y);
    let n = w.numel();
    let h = hessian(|v| loss(v, x, y), w).reshape(&[n, n]).expect("[n, n]");
    let d = solve_spd(&h, g.data());
    w - Tensor::new(d, w.shape()).expect("shape of w")
}

/// One Hessian-free Newton step: `H d = g` solved by conjugate gradient, each iteration one
/// `hvp`. Returns the new weights and the number of Hessian-vector products.
fn newton_cg_step(w: &Tensor, x: &Tensor, y: &[usize]) -> (Tensor, usize) {
    let (_, g) = loss_and_gradient(w, x, y);
    let mut d = Tensor::zeros(w.shape());
    let (mut r, mut p) = (g.clone(), g.clone());
    let mut rr = dot(&r, &r);
    let mut products = 0;
    while products < w.numel() && rr.sqrt() > 1e-12 * (1.0 + dot(&g, &g).sqrt()) {
        let hp = hvp(|v| loss(v, x, y), w, &p);
        products += 1;
        let alpha = rr / dot(&p, &hp);
        d = &d + alpha * &p;
        r = &r - alpha * &hp;
        let next = dot(&r, &r);
        p = &r + next / rr * &p;
        rr = next;
    }
    (w - d, products)
}

fn main() {
    let (x, y) = data();
    let start = Tensor::zeros(&[FEATURES, CLASSES]);
    let (mut gd, mut newton, mut cg) = (start.clone(), start.clone(), start);
    let lr = 1.0;
    println!(
        "softmax regression: {SAMPLES} samples, {FEATURES} features (with bias), {CLASSES} classes, lambda {LAMBDA}"
    );
    println!("loss per iteration (gradient descent with learning rate {lr}; Newton; Hessian-free Newton by CG)\n");
    println!(
        "{:>4}  {:>20}  {:>20}  {:>20}  {:>5}",
        "iter", "gradient descent", "Newton (hessian)", "Newton-CG (hvp)", "hvps"
    );
    let mut gd_loss = 0.0;
    for iter in 0..=STEPS {
        let (l_gd, g) = loss_and_gradient(&gd, &x, &y);
        let (l_newton, _) = loss_and_gradient(&newton, &x, &y);
        let (l_cg, _) = loss_and_gradient(&cg, &x, &y);
        gd_loss = l_gd;
        let mut products = String::new();
        if iter < STEPS {
            gd = &gd - lr * g;
            newton = newton_step(&newton, &x, &y);
            let (next, n) = newton_cg_step(&cg, &x, &y);
            cg = next;
            products = n.to_string();
        }
        println!("{iter:>4}  {l_gd:>20.15}  {l_newton:>20.15}  {l_cg:>20.15}  {products:>5}");
    }
    let mut iters = STEPS;
    let (target, _) = loss_and_gradient(&newton, &x, &y);
    while gd_loss - target > 1e-10 && iters < 100_000 {
        let (l, g) = loss_and_gradient(&gd, &x, &y);
        gd_loss = l;
        gd = &gd - lr * g;
        iters += 1;
    }
    println!(
        "\ngradient descent reaches Newton's loss to 1e-10 after {iters} iterations; \
         Newton's and CG's weights differ by {:.1e}",
        newton.max_abs_diff(&cg)
    );
}
