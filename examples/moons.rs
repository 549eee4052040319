//! micrograd's demo, rebuilt: a 2-16-16-1 MLP learns the two-moons data with a max-margin loss,
//! L2 regularisation and SGD on micrograd's schedule (`lr = 1.0 - 0.9 k / 100`), 100 steps.
//! Prints loss and accuracy per step; writes the decision boundary over the points to
//! `target/moons.svg` and the loss curve to `target/moons_loss.svg`.
//!
//! ```sh
//! cargo run --release --example moons
//! ```

use std::path::PathBuf;
use std::time::Instant;

use plotters::prelude::*;
use tapegrad::nn::{Activation, Mlp};
use tapegrad::optim::{Optimizer, Sgd};
use tapegrad::rand::SeedableRng;
use tapegrad::rand::rngs::StdRng;
use tapegrad::{ParamVars, Params};
use tapegrad::{Tape, Tensor, Var};

/// scikit-learn's `make_moons(n, noise)`: half the points on the upper half circle, half on a
/// lower one shifted right and down, each coordinate plus N(0, noise^2). Labels -1 and +1, as
/// micrograd's demo uses them.
fn make_moons(n: usize, noise: f64, rng: &mut StdRng) -> (Tensor, Tensor) {
    let n_out = n / 2;
    let n_in = n - n_out;
    let angle = |i: usize, m: usize| std::f64::consts::PI * i as f64 / (m - 1) as f64;
    let mut xy = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n_out {
        xy.extend([angle(i, n_out).cos(), angle(i, n_out).sin()]);
        labels.push(-1.0);
    }
    for i in 0..n_in {
        xy.extend([1.0 - angle(i, n_in).cos(), 1.0 - angle(i, n_in).sin() - 0.5]);
        labels.push(1.0);
    }
    let jitter = Tensor::randn(&[n, 2], rng) * noise;
    let x = &Tensor::new(xy, &[n, 2]).expect("2 coordinates per point") + &jitter;
    (x, Tensor::new(labels, &[n]).expect("one label per point"))
}

/// The scores `mlp(x)`, one per row.
fn scores<'t>(mlp: &Mlp, p: &ParamVars<'t>, x: Var<'t>) -> Var<'t> {
    mlp.forward(p, x).squeeze(-1)
}

/// The data, the model and its parameters after training, and (step, loss, accuracy) per step.
struct Run {
    x: Tensor,
    y: Tensor,
    mlp: Mlp,
    params: Params,
    curve: Vec<(usize, f64, f64)>,
}

/// micrograd's demo: 100 SGD steps on the two moons; prints each step when `verbose`.
fn train(verbose: bool) -> Run {
    let mut rng = StdRng::seed_from_u64(1337);
    let (x, y) = make_moons(100, 0.1, &mut rng);

    let mut params = Params::new();
    let mlp = Mlp::new(&mut params, "mlp", &[2, 16, 16, 1], Activation::Relu, &mut rng);
    // micrograd initialises every weight U(-1, 1) and every bias 0; do the same so the run is
    // the demo's (the layers' PyTorch default would do too, more slowly).
    let names: Vec<String> = params.names().map(String::from).collect();
    for name in names {
        let shape = params[&name].shape().to_vec();
        let init =
            if name.ends_with("weight") { Tensor::uniform(&shape, -1.0, 1.0, &mut rng) } else { Tensor::zeros(&shape) };
        params.set(&name, init);
    }

    let mut opt = Sgd::new(1.0);
    let mut curve = Vec::with_capacity(100);
    for k in 0..100 {
        let tape = Tape::new();
        let p = params.on(&tape);
        let s = scores(&mlp, &p, tape.constant(x.clone()));
        let yv = tape.constant(y.clone());
        // Max-margin (SVM) loss, mean over points, plus alpha * sum of squared parameters.
        let data_loss = (1.0 - yv * s).relu().mean();
        let reg_loss = 1e-4 * p.iter().map(|(_, w)| (w * w).sum()).sum::<Var>();
        let loss = data_loss + reg_loss;
        let accuracy = s.value().gt_scalar(0.0).eq(&y.gt_scalar(0.0)).mean();
        let grads = p.grads(&loss.backward());
        opt.set_lr(1.0 - 0.9 * k as f64 / 100.0);
        opt.step(&mut params, &grads);
        if verbose {
            println!("step {k} loss {:.6}, accuracy {:.0}%", loss.item(), accuracy * 100.0);
        }
        curve.push((k, loss.item(), accuracy));
    }
    Run { x, y, mlp, params, curve }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let run = train(true);
    let elapsed = start.elapsed();
    let (_, final_loss, final_accuracy) = run.curve[run.curve.len() - 1];
    println!(
        "{} parameters, 100 steps in {elapsed:.2?} (printing included): loss {final_loss:.6}, training accuracy {:.0}%",
        run.params.num_params(),
        final_accuracy * 100.0
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    draw_boundary(&dir.join("moons.svg"), &run.mlp, &run.params, &run.x, &run.y)?;
    draw_loss(&dir.join("moons_loss.svg"), &run.curve)?;
    println!("wrote {} and {}", dir.join("moons.svg").display(), dir.join("moons_loss.svg").display());
    Ok(())
}

/// The sign of the score over a grid (the decision regions), with the points on top.
fn draw_boundary(
    path: &std::path::Path,
    mlp: &Mlp,
    params: &Params,
    x: &Tensor,
    y: &Tensor,
) -> Result<(), Box<dyn std::error::Error>> {
    let (x0, x1, y0, y1, h) = (-2.0, 3.0, -1.5, 2.0, 0.05);
    let (nx, ny) = (((x1 - x0) / h) as usize, ((y1 - y0) / h) as usize);
    let grid = Tensor::from_fn(&[nx * ny, 2], |ix| {
        let (i, j) = (ix[0] % nx, ix[0] / nx);
        if ix[1] == 0 { x0 + i as f64 * h } else { y0 + j as f64 * h }
    });
    let tape = Tape::new();
    let region = scores(mlp, &params.on(&tape), tape.constant(grid.clone())).value();

    let root = SVGBackend::new(path, (640, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("two moons: decision boundary after 100 steps", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(30)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart.configure_mesh().disable_mesh().draw()?;
    let cells = (0..nx * ny).map(|c| {
        let (gx, gy) = (grid.get(&[c, 0]), grid.get(&[c, 1]));
        let color = if region.data()[c] > 0.0 { RGBColor(255, 214, 170) } else { RGBColor(178, 206, 255) };
        Rectangle::new([(gx, gy), (gx + h, gy + h)], color.filled())
    });
    chart.draw_series(cells)?;
    let points = (0..y.numel()).map(|i| {
        let color = if y.data()[i] > 0.0 { RGBColor(214, 96, 0) } else { RGBColor(20, 70, 200) };
        Circle::new((x.get(&[i, 0]), x.get(&[i, 1])), 4, color.filled())
    });
    chart.draw_series(points)?;
    root.present()?;
    Ok(())
}

/// Loss and accuracy per step.
fn draw_loss(path: &std::path::Path, curve: &[(usize, f64, f64)]) -> Result<(), Box<dyn std::error::Error>> {
    let top = curve.iter().map(|c| c.1).fold(1.0, f64::max);
    let root = SVGBackend::new(path, (640, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("two moons: loss (blue) and accuracy (orange) per step", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0usize..curve.len(), 0.0..top)?;
    chart.configure_mesh().x_desc("step").draw()?;
    chart.draw_series(LineSeries::new(curve.iter().map(|&(k, l, _)| (k, l)), &BLUE))?;
    chart.draw_series(LineSeries::new(curve.iter().map(|&(k, _, a)| (k, a.min(top))), &RGBColor(214, 96, 0)))?;
    root.present()?;
    Ok(())
}

/// `cargo test` runs this (the example is built with `test = true`): the demo reaches
/// micrograd's result, 100 % training accuracy, and the loss falls below 0.02.
#[test]
fn reaches_full_training_accuracy() {
    let run = train(false);
    let (_, loss, accuracy) = run.curve[99];
    assert_eq!(accuracy, 1.0);
    assert!(loss < 0.02, "{loss}");
    assert_eq!(run.params.num_params(), 337); // micrograd's MLP(2, [16, 16, 1])
}
