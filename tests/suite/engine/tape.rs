//! What `backward` returns: gradients of leaves and intermediates, nothing for constants or
//! for nodes that do not lead to the output, and sums where a node is used twice.

use approx::assert_relative_eq;
use tapegrad::{Tape, Tensor};

#[test]
fn the_contract_example_gives_exact_gradients() {
    let tape = Tape::new();
    let w = tape.var(Tensor::new(vec![0.1, -0.2, 0.3, 0.4], &[2, 2]).unwrap());
    let x = tape.constant(Tensor::ones(&[3, 2]));
    let logits = x.matmul(w) + 1.0;
    let loss = logits.cross_entropy(&[0, 1, 1]);
    let grads = loss.backward();

    // Every row of logits is [1.4, 1.2]; p = softmax = [s, 1 - s] with s = 1 / (1 + e^-0.2).
    let s = 1.0 / (1.0 + (-0.2f64).exp());
    let expected_loss = (-(s.ln()) - 2.0 * (1.0 - s).ln()) / 3.0;
    assert_relative_eq!(loss.item(), expected_loss, max_relative = 1e-15);
    let dl = Tensor::new(vec![s - 1.0, 1.0 - s, s, -s, s, -s], &[3, 2]).unwrap().map(|g| g / 3.0);
    assert_relative_eq!(*grads.wrt(logits).unwrap(), dl, max_relative = 1e-14);
    // dw = x^T dlogits: every row of x is [1, 1], so both rows of dw are the column sums.
    let col = [(s - 1.0 + 2.0 * s) / 3.0, (1.0 - s - 2.0 * s) / 3.0];
    let dw = Tensor::new(vec![col[0], col[1], col[0], col[1]], &[2, 2]).unwrap();
    assert_relative_eq!(*grads.wrt(w).unwrap(), dw, max_relative = 1e-14);
    assert!(grads.wrt(x).is_none(), "a constant has no gradient");
}

#[test]
fn nodes_that_do_not_lead_to_the_output_have_no_gradient() {
    let tape = Tape::new();
    let a = tape.var(Tensor::scalar(2.0));
    let b = tape.var(Tensor::scalar(3.0));
    let unused = b.exp();
    let out = a * a;
    let grads = out.backward();
    assert_eq!(grads.wrt(a).unwrap().item(), 4.0);
    assert!(grads.wrt(b).is_none());
    assert!(grads.wrt(unused).is_none());
    assert_eq!(grads.wrt(out).unwrap().item(), 1.0);
}

#[test]
fn nodes_computed_only_from_constants_get_no_gradient() {
    let tape = Tape::new();
    let c = tape.constant(Tensor::scalar(2.0));
    let from_constants = (c * c).exp();
    let w = tape.var(Tensor::scalar(0.5));
    let out = w * from_constants;
    let grads = out.backward();
    assert_relative_eq!(grads.wrt(w).unwrap().item(), 4f64.exp());
    assert!(grads.wrt(from_constants).is_none());
    assert!(grads.wrt(c).is_none());
}

#[test]
fn a_graph_of_constants_only_has_no_gradients_at_all() {
    let tape = Tape::new();
    let c = tape.constant(Tensor::scalar(2.0));
    let out = c * 3.0;
    let grads = out.backward();
    assert!(grads.wrt(out).is_none() && grads.wrt(c).is_none());
}

#[test]
fn gradients_along_several_paths_are_summed() {
    // y = x * x + 3x, used twice more through the same intermediate: z = y * y.
    let tape = Tape::new();
    let x = tape.var(Tensor::scalar(1.5));
    let y = x * x + 3.0 * x;
    let z = y * y;
    let grads = z.backward();
    let yv = 1.5 * 1.5 + 4.5;
    assert_relative_eq!(grads.wrt(y).unwrap().item(), 2.0 * yv);
    assert_relative_eq!(grads.wrt(x).unwrap().item(), 2.0 * yv * (2.0 * 1.5 + 3.0));
}

#[test]
fn backward_with_a_seed_is_a_vector_jacobian_product() {
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.0, 2.0, 3.0], &[3]).unwrap());
    let y = x * x;
    let grads = y.backward_with(Tensor::new(vec![1.0, 0.5, -1.0], &[3]).unwrap());
    assert_eq!(grads.wrt(x).unwrap().data(), &[2.0, 2.0, -6.0]);
}

#[test]
fn values_shapes_and_items() {
    let tape = Tape::new();
    let x = tape.var(Tensor::new(vec![1.0, 4.0, 9.0, 16.0], &[2, 2]).unwrap());
    let y = x.sqrt().sum_axis(1, true);
    assert_eq!(y.shape(), [2, 1]);
    assert_eq!(y.value().data(), &[3.0, 7.0]);
    assert_eq!(x.sqrt().sum().item(), 10.0);
    assert_eq!(tape.len(), 5);
}

#[test]
fn a_tape_per_step_leaves_parameters_outside() {
    // Gradient descent on (w - 3)^2 with a fresh tape each step.
    let mut w = Tensor::scalar(0.0);
    for _ in 0..100 {
        let tape = Tape::new();
        let wv = tape.var(w.clone());
        let loss = (wv - 3.0).powf(2.0);
        let g = loss.backward().wrt(wv).unwrap().item();
        w = Tensor::scalar(w.item() - 0.1 * g);
    }
    assert_relative_eq!(w.item(), 3.0, epsilon = 1e-9);
}
