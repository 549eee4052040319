//! Issue 12, item 3: an optimizer must refuse a parameter whose shape changed since its state
//! was made, instead of updating part of it, and name itself (AdamW said "Adam"), the
//! parameter and both shapes, at the caller's line.

use std::panic::{AssertUnwindSafe, catch_unwind};

use tapegrad::optim::{Adam, AdamW, Optimizer, Sgd};
use tapegrad::{ParamGrads, Params, Tensor};

use crate::common::panic_locations;

fn t(data: &[f64]) -> Tensor {
    Tensor::new(data.to_vec(), &[data.len()]).unwrap()
}

fn grads(pairs: &[(&str, &[f64])]) -> ParamGrads {
    let mut g = ParamGrads::new();
    for (name, data) in pairs {
        g.insert(*name, t(data));
    }
    g
}

/// The old positional form: a `[5]` parameter where step 1 had `[2]` left three elements
/// untouched.
#[test]
#[should_panic(
    expected = "AdamW::step: parameter \"[0]\" has shape [5] but its optimizer state was made for shape [2]"
)]
fn adamw_refuses_a_parameter_that_grew() {
    let mut opt = AdamW::new(0.1);
    opt.step_tensors(&mut [&mut t(&[1.0, 2.0])], &[&t(&[0.1, 0.2])]);
    opt.step_tensors(&mut [&mut t(&[1.0, 2.0, 3.0, 4.0, 5.0])], &[&t(&[0.1, 0.2, 0.3, 0.4, 0.5])]);
}

/// Two parameters passed in swapped order got weight decay everywhere and the Adam step
/// nowhere; now the shapes disagree with the state and it panics.
#[test]
#[should_panic(expected = "Adam::step: parameter \"[0]\" has shape [3] but its optimizer state was made for shape [2]")]
fn adam_refuses_swapped_positional_parameters() {
    let (mut a, mut b) = (t(&[1.0, 2.0]), t(&[1.0, 2.0, 3.0]));
    let (ga, gb) = (t(&[0.1, 0.1]), t(&[0.1, 0.1, 0.1]));
    let mut opt = Adam::new(0.1);
    opt.step_tensors(&mut [&mut a, &mut b], &[&ga, &gb]);
    opt.step_tensors(&mut [&mut b, &mut a], &[&gb, &ga]);
}

/// The named form: a parameter replaced by one of another shape panics, naming AdamW, the
/// parameter and both shapes, and points at the caller's line (this file).
#[test]
fn named_step_panics_at_the_callers_line_naming_adamw() {
    let mut params = Params::new();
    params.insert("layer1.weight", t(&[1.0, 2.0]));
    let mut opt = AdamW::new(0.1);
    opt.step(&mut params, &grads(&[("layer1.weight", &[0.1, 0.2])]));
    params.set("layer1.weight", t(&[1.0, 2.0, 3.0]));
    let mut result = None;
    let locations = panic_locations(|| {
        result = Some(catch_unwind(AssertUnwindSafe(|| {
            opt.step(&mut params, &grads(&[("layer1.weight", &[0.1, 0.2, 0.3])]));
        })));
    });
    let result = result.unwrap();
    let location = locations.last().map(|(file, _)| file.as_str()).unwrap_or_default();
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(
        message,
        "AdamW::step: parameter \"layer1.weight\" has shape [3] but its optimizer state was made for shape [2]"
    );
    assert!(location.ends_with("optim_shape_checks.rs"), "{location:?}");
}

#[test]
#[should_panic(expected = "Sgd::step: parameter \"w\" has shape [1] but its optimizer state was made for shape [2]")]
fn sgd_with_momentum_checks_shapes_too() {
    let mut params = Params::new();
    params.insert("w", t(&[1.0, 2.0]));
    let mut opt = Sgd::new(0.1).momentum(0.9);
    opt.step(&mut params, &grads(&[("w", &[0.1, 0.2])]));
    params.set("w", t(&[1.0]));
    opt.step(&mut params, &grads(&[("w", &[0.1])]));
}

#[test]
#[should_panic(expected = "AdamW::step: parameter \"w\" of shape [2] has a gradient of shape [3]")]
fn a_gradient_of_another_shape_panics() {
    let mut params = Params::new();
    params.insert("w", t(&[1.0, 2.0]));
    AdamW::new(0.1).step(&mut params, &grads(&[("w", &[0.1, 0.2, 0.3])]));
}

#[test]
#[should_panic(expected = "Adam::step: there is a gradient for \"v\" but no parameter of that name")]
fn a_gradient_without_a_parameter_panics() {
    let mut params = Params::new();
    params.insert("w", t(&[1.0]));
    Adam::new(0.1).step(&mut params, &grads(&[("v", &[0.1])]));
}

/// A bad call changes nothing: every pair is checked before any update.
#[test]
fn a_rejected_step_leaves_every_parameter_as_it_was() {
    let mut params = Params::new();
    params.insert("a", t(&[1.0]));
    params.insert("b", t(&[2.0]));
    let before = params.clone();
    let bad = grads(&[("a", &[0.5]), ("b", &[0.5, 0.5])]);
    let mut opt = AdamW::new(0.1);
    assert!(catch_unwind(AssertUnwindSafe(|| opt.step(&mut params, &bad))).is_err());
    assert_eq!(params["a"], before["a"]);
    assert_eq!(params["b"], before["b"]);
}

/// `Tensor::add_scaled` (`w += alpha * g`, a hand-written update) refuses another shape,
/// naming both.
#[test]
#[should_panic(expected = "add_scaled: shapes [2, 3] and [3, 2] differ")]
fn add_scaled_refuses_another_shape() {
    let mut w = Tensor::zeros(&[2, 3]);
    w.add_scaled(&Tensor::zeros(&[3, 2]), -0.1);
}
