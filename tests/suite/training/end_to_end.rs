//! Training with the store, layers and optimizers: resuming from a checkpoint is exact, the
//! layers have PyTorch's keys, shapes and initialisations, and freezing works through a step.

use std::path::PathBuf;

use tapegrad::nn::init::{FanMode, Nonlinearity, kaiming_normal, kaiming_uniform, xavier_normal, xavier_uniform};
use tapegrad::nn::{Activation, Embedding, LayerNorm, Linear, Mlp};
use tapegrad::optim::{AdamW, LrSchedule, Optimizer, Sgd, WarmupCosineLr};
use tapegrad::rand::SeedableRng;
use tapegrad::rand::rngs::StdRng;
use tapegrad::{ParamVars, Params};
use tapegrad::{Tape, Tensor, Var};

/// A small character model: embedding, layer norm, MLP.
struct Model {
    emb: Embedding,
    ln: LayerNorm,
    mlp: Mlp,
}

impl Model {
    fn new(params: &mut Params, seed: u64) -> Model {
        let rng = &mut StdRng::seed_from_u64(seed);
        Model {
            emb: Embedding::new(params, "wte", 5, 4, rng),
            ln: LayerNorm::new(params, "ln", 4),
            mlp: Mlp::new(params, "head", &[4, 8, 5], Activation::Tanh, rng),
        }
    }

    fn forward<'t>(&self, p: &ParamVars<'t>, ids: &[usize]) -> Var<'t> {
        let h = self.ln.forward(p, self.emb.forward(p, ids));
        self.mlp.forward(p, h)
    }
}

/// One step on a fixed batch; the rate from a schedule of the optimizer's own step count, so
/// that a resumed run must also have restored the count.
fn step(model: &Model, params: &mut Params, opt: &mut dyn Optimizer) {
    let schedule = WarmupCosineLr { base_lr: 0.05, warmup: 3, total: 20, min_lr: 0.005 };
    opt.set_lr(schedule.lr(opt.steps() as usize));
    let tape = Tape::new();
    let p = params.on(&tape);
    let loss = model.forward(&p, &[0, 1, 2, 3, 4, 1]).cross_entropy(&[1, 2, 3, 4, 0, 2]);
    let grads = loss.backward();
    opt.step(params, &p.grads(&grads));
}

fn temp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}.safetensors", std::process::id()))
}

/// N steps straight and N/2 + save + load (into a freshly made model and optimizer) + N/2
/// give bit-identical parameters.
fn resumes_exactly(make_opt: fn() -> Box<dyn Optimizer>, tag: &str) {
    const N: usize = 12;
    let mut straight = Params::new();
    let model = Model::new(&mut straight, 0);
    let mut opt = make_opt();
    for _ in 0..N {
        step(&model, &mut straight, opt.as_mut());
    }

    let mut first = Params::new();
    let model = Model::new(&mut first, 0);
    let mut opt = make_opt();
    for _ in 0..N / 2 {
        step(&model, &mut first, opt.as_mut());
    }
    let (params_file, opt_file) = (temp(&format!("{tag}-params")), temp(&format!("{tag}-opt")));
    first.save(&params_file).unwrap();
    opt.save_state(&opt_file).unwrap();
    drop((first, opt));

    let mut resumed = Params::new();
    let model = Model::new(&mut resumed, 99); // another initialisation, overwritten by the load
    let mut opt = make_opt();
    resumed.load(&params_file).unwrap();
    opt.load_state(&opt_file).unwrap();
    assert_eq!(opt.steps(), (N / 2) as u64);
    for _ in 0..N / 2 {
        step(&model, &mut resumed, opt.as_mut());
    }
    for (name, t) in straight.iter() {
        assert_eq!(t, &resumed[name], "{tag}: {name}");
    }
}

#[test]
fn adamw_with_amsgrad_resumes_bit_identically() {
    resumes_exactly(|| Box::new(AdamW::new(0.05).amsgrad(true)), "adamw");
}

#[test]
fn sgd_with_nesterov_momentum_resumes_bit_identically() {
    resumes_exactly(|| Box::new(Sgd::new(0.05).momentum(0.9).nesterov(true).weight_decay(1e-3)), "sgd");
}

/// Without the optimizer's state the run diverges: the test above can fail.
#[test]
fn resuming_without_the_optimizer_state_differs() {
    let mut a = Params::new();
    let model = Model::new(&mut a, 0);
    let mut b = a.clone();
    let (mut opt_a, mut opt_b) = (AdamW::new(0.05), AdamW::new(0.05));
    for _ in 0..4 {
        step(&model, &mut a, &mut opt_a);
        step(&model, &mut b, &mut opt_b);
    }
    let mut fresh = AdamW::new(0.05);
    step(&model, &mut a, &mut opt_a);
    step(&model, &mut b, &mut fresh);
    assert_ne!(a["head.0.weight"], b["head.0.weight"]);
}

#[test]
fn loading_into_a_store_is_strict() {
    let mut params = Params::new();
    Model::new(&mut params, 0);
    let path = temp("strict");
    params.save(&path).unwrap();
    let mut other = Params::new();
    other.insert("wte.weight", Tensor::zeros(&[5, 4]));
    assert!(other.load(&path).is_err()); // the file has more
    let mut wrong = params.clone();
    wrong.set("ln.weight", Tensor::zeros(&[3]));
    let err = wrong.load(&path).unwrap_err().to_string();
    assert!(err.contains("\"ln.weight\" has shape [4] in the file but [3] here"), "{err}");
    assert_eq!(wrong["ln.weight"].shape(), &[3]); // nothing changed
    let mut extra = params.clone();
    extra.insert("more", Tensor::zeros(&[1]));
    assert!(extra.load(&path).unwrap_err().to_string().contains("\"more\" is missing"));
}

#[test]
fn layers_have_pytorch_keys_shapes_and_inits() {
    let mut params = Params::new();
    let rng = &mut StdRng::seed_from_u64(3);
    let fc = Linear::new(&mut params, "fc", 400, 300, rng);
    Linear::without_bias(&mut params, "proj", 4, 6, rng);
    Embedding::new(&mut params, "wte", 1000, 50, rng);
    LayerNorm::new(&mut params, "ln", 7);
    Mlp::new(&mut params, "", &[2, 3, 1], Activation::Relu, rng);
    let names: Vec<&str> = params.names().collect();
    assert_eq!(
        names,
        [
            "fc.weight",
            "fc.bias",
            "proj.weight",
            "wte.weight",
            "ln.weight",
            "ln.bias",
            "0.weight",
            "0.bias",
            "2.weight",
            "2.bias"
        ]
    );
    assert_eq!(params["fc.weight"].shape(), &[300, 400]);
    assert_eq!(params["proj.weight"].shape(), &[6, 4]);
    assert_eq!((fc.in_features, fc.out_features), (400, 300));
    // Linear: U(-1/sqrt(400), 1/sqrt(400)) = U(-0.05, 0.05): variance 0.05^2 / 3.
    let w = &params["fc.weight"];
    assert!(w.data().iter().all(|x| x.abs() < 0.05));
    assert!(
        (w.data().iter().map(|x| x * x).sum::<f64>() / w.numel() as f64 - 0.0025 / 3.0).abs() < 0.02 * 0.0025 / 3.0
    );
    assert!(params["fc.bias"].data().iter().all(|x| x.abs() < 0.05));
    // Embedding: N(0, 1).
    let e = &params["wte.weight"];
    let var = e.data().iter().map(|x| x * x).sum::<f64>() / e.numel() as f64;
    assert!((var - 1.0).abs() < 0.03, "{var}");
    assert_eq!(params["ln.weight"], Tensor::ones(&[7]));
    assert_eq!(params["ln.bias"], Tensor::zeros(&[7]));
}

/// Each initialiser's spread against PyTorch's formula, on 100,000 samples.
#[test]
fn initialisers_follow_pytorch_formulas() {
    let rng = &mut StdRng::seed_from_u64(7);
    let shape = [200, 500]; // fan_in 500, fan_out 200
    let std_of = |t: &Tensor| (t.data().iter().map(|x| x * x).sum::<f64>() / t.numel() as f64).sqrt();
    let close = |got: f64, want: f64| assert!((got / want - 1.0).abs() < 0.01, "std {got} against {want}");
    let xavier = (2.0f64 / 700.0).sqrt();
    let t = xavier_uniform(&shape, 2.0, rng);
    close(std_of(&t), 2.0 * xavier);
    assert!(t.data().iter().all(|x| x.abs() <= 2.0 * 3f64.sqrt() * xavier));
    close(std_of(&xavier_normal(&shape, 1.0, rng)), xavier);
    let t = kaiming_uniform(&shape, FanMode::FanIn, Nonlinearity::Relu, rng);
    close(std_of(&t), (2.0f64 / 500.0).sqrt());
    assert!(t.data().iter().all(|x| x.abs() <= (6.0f64 / 500.0).sqrt()));
    close(std_of(&kaiming_normal(&shape, FanMode::FanOut, Nonlinearity::Tanh, rng)), 5.0 / 3.0 / 200f64.sqrt());
    // nn.Linear's weight is kaiming_uniform(a = sqrt(5)): bound 1/sqrt(fan_in).
    let t = kaiming_uniform(&shape, FanMode::FanIn, Nonlinearity::LeakyRelu(5f64.sqrt()), rng);
    close(std_of(&t), 1.0 / 500f64.sqrt() / 3f64.sqrt());
}

#[test]
#[should_panic(expected = "xavier_uniform: fan in and fan out can not be computed for a tensor of shape [5]")]
fn initialisers_need_two_axes() {
    xavier_uniform(&[5], 1.0, &mut StdRng::seed_from_u64(0));
}

#[test]
#[should_panic(expected = "Params::insert: a parameter named \"fc.weight\" is already stored")]
fn two_layers_with_one_name_panic() {
    let mut params = Params::new();
    let rng = &mut StdRng::seed_from_u64(0);
    Linear::new(&mut params, "fc", 2, 2, rng);
    Linear::new(&mut params, "fc", 2, 2, rng);
}

#[test]
#[should_panic(expected = "ParamVars: no parameter named \"fc.wieght\"; the store holds [\"fc.weight\"]")]
fn an_unknown_name_panics_with_the_known_ones() {
    let mut params = Params::new();
    params.insert("fc.weight", Tensor::zeros(&[1]));
    let tape = Tape::new();
    let p = params.on(&tape);
    let _ = p["fc.wieght"];
}

/// A Linear layer is one `linear` node on the tape (as PyTorch's is one `addmm`); inputs of
/// any rank with the features last work.
#[test]
fn a_linear_layer_is_one_node_and_takes_batched_inputs() {
    let mut params = Params::new();
    let fc = Linear::new(&mut params, "fc", 3, 2, &mut StdRng::seed_from_u64(0));
    let tape = Tape::new();
    let p = params.on(&tape);
    let before = tape.len();
    let x = tape.constant(Tensor::from_fn(&[4, 5, 3], |ix| ix.iter().sum::<usize>() as f64));
    let y = fc.forward(&p, x);
    assert_eq!(y.shape(), [4, 5, 2]);
    assert_eq!(tape.len() - before, 2); // the input and the linear node
    assert_eq!(tape.memory().nodes.last().unwrap().op, "linear");
    // Against the formula: y[b, t, o] = sum_i x[b, t, i] W[o, i] + bias[o].
    let (w, b) = (&params["fc.weight"], &params["fc.bias"]);
    let xv = x.value();
    let yv = y.value();
    let expected = (0..3).map(|i| xv.get(&[2, 1, i]) * w.get(&[1, i])).sum::<f64>() + b.get(&[1]);
    assert!((yv.get(&[2, 1, 1]) - expected).abs() < 1e-12);
}

/// Frozen parameters reach the tape as constants: no gradient, and the optimizer skips them.
#[test]
fn freezing_keeps_a_layer_fixed_through_training() {
    let mut params = Params::new();
    let model = Model::new(&mut params, 0);
    params.freeze("wte.weight");
    assert_eq!(params.num_trainable(), params.num_params() - 20);
    let before = params["wte.weight"].clone();
    let mut opt = AdamW::new(0.1);
    for _ in 0..3 {
        step(&model, &mut params, &mut opt);
    }
    assert_eq!(params["wte.weight"], before);
    assert_ne!(params["ln.weight"], Tensor::ones(&[4]));
}

/// Resuming from the file alone (`Params::from_file`, a fresh store) with `clip_grad_norm` in
/// the loop gives the uninterrupted run's parameters bit for bit: the store comes back in the
/// order it was built in (here the reverse of the names' order), so the clipping norm sums in
/// the same order.
#[test]
fn resuming_from_the_file_alone_with_clipping_is_bit_identical() {
    use tapegrad::optim::clip_grad_norm;
    const N: usize = 30;
    fn clipped_step(params: &mut Params, opt: &mut AdamW) {
        let tape = Tape::new();
        let p = params.on(&tape);
        let loss = p.iter().map(|(_, v)| (v.tanh() * v.exp()).sum()).reduce(|a, b| a + b).unwrap();
        let mut grads = p.grads(&loss.backward());
        clip_grad_norm(&mut grads, 0.1); // below the norm: every step is scaled
        opt.step(params, &grads);
    }
    let rng = &mut StdRng::seed_from_u64(7);
    let mut straight = Params::new();
    for i in (0..8).rev() {
        straight.insert(format!("p{i}"), Tensor::randn(&[3], rng) * (i as f64 + 0.5));
    }
    let mut first = straight.clone();
    let mut opt = AdamW::new(0.05);
    for _ in 0..N {
        clipped_step(&mut straight, &mut opt);
    }

    let mut opt = AdamW::new(0.05);
    for _ in 0..N / 2 {
        clipped_step(&mut first, &mut opt);
    }
    let (params_file, opt_file) = (temp("clip-params"), temp("clip-opt"));
    first.save(&params_file).unwrap();
    opt.save_state(&opt_file).unwrap();
    drop((first, opt));

    let mut resumed = Params::from_file(&params_file).unwrap();
    let mut opt = AdamW::new(0.05);
    opt.load_state(&opt_file).unwrap();
    for _ in 0..N / 2 {
        clipped_step(&mut resumed, &mut opt);
    }
    for (name, t) in straight.iter() {
        assert_eq!(t, &resumed[name], "{name}");
    }
    assert_eq!(resumed.names().collect::<Vec<_>>(), straight.names().collect::<Vec<_>>());
}
