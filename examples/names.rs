//! A character-level language model in the makemore style (Bengio et al. 2003, as Karpathy's
//! makemore part 2): the previous 3 characters, each embedded in 10 dimensions, a tanh hidden
//! layer of 200, logits over the 27 characters (`a`-`z` and `.` ending a word), cross-entropy,
//! AdamW on random minibatches of 64 with a cosine learning-rate schedule.
//!
//! The words are `examples/data/names.txt`: the 5163 distinct first names of the US Census
//! 1990 name lists (a US government work, public domain) as shipped in the MIT-licensed PyPI
//! package `names` 0.3.0 (`dist.female.first` and `dist.male.first`), lower-cased. They are
//! compiled into the example; nothing is fetched at run time.
//!
//! Shows a progress bar (plain lines when the output is not a terminal), splits the words
//! 90/10 into training and validation, writes the loss curve to `target/names_loss.svg`, saves
//! the parameters to `target/names.safetensors`, reloads them into a fresh store and checks
//! the validation loss is the same, and samples 10 words.
//!
//! ```sh
//! cargo run --release --example names
//! ```

use std::path::PathBuf;
use std::time::Instant;

use tapegrad::data::{random_batch, train_val_split};
use tapegrad::nn::{Embedding, Linear};
use tapegrad::optim::{AdamW, CosineLr, LrScheduler, Optimizer};
use tapegrad::rand::SeedableRng;
use tapegrad::rand::rngs::StdRng;
use tapegrad::{Indices, ParamVars, Params};
use tapegrad::{Tape, Var};
use tapegrad_support::plot::{Series, XScale, line_chart};
use tapegrad_support::progress::Progress;

/// The word list, one lower-case word per line.
const WORDS: &str = include_str!("data/names.txt");
/// Characters of context.
const BLOCK: usize = 3;
/// `.` (id 0, start and end of a word) and `a`..`z`.
const VOCAB: usize = 27;
const EMBED: usize = 10;
const HIDDEN: usize = 200;
const BATCH: usize = 64;
const STEPS: usize = 4000;
const LR: f64 = 1e-2;
/// Validation loss is measured every this many steps.
const EVAL_EVERY: usize = 200;
/// A sampled word is cut at this length (a model that never ends a word would loop forever).
const MAX_SAMPLE_LEN: usize = 30;

fn encode(c: u8) -> usize {
    match c {
        b'a'..=b'z' => usize::from(c - b'a') + 1,
        _ => panic!("names.txt holds only a-z, found {:?}", char::from(c)),
    }
}

fn decode(id: usize) -> char {
    char::from(b'a' + (id - 1) as u8)
}

/// Every (context, next character) pair of `words`: the contexts `[n, BLOCK]`, the targets
/// `[n]`. A word `emma` gives `...->e`, `..e->m`, `.em->m`, `emm->a`, `mma->.`.
fn examples<'a>(words: impl Iterator<Item = &'a str>) -> (Indices, Indices) {
    let (mut contexts, mut targets) = (Vec::new(), Vec::new());
    for word in words {
        let mut ctx = [0; BLOCK];
        for id in word.bytes().map(encode).chain([0]) {
            contexts.extend(ctx);
            targets.push(id);
            ctx.rotate_left(1);
            ctx[BLOCK - 1] = id;
        }
    }
    let n = targets.len();
    (Indices::new(contexts, &[n, BLOCK]).expect("BLOCK ids per target"), Indices::from(targets))
}

/// The model: its layers remember their parameters' names; the tensors live in a `Params`.
struct Model {
    wte: Embedding,
    hidden: Linear,
    out: Linear,
}

impl Model {
    fn new(params: &mut Params, rng: &mut StdRng) -> Model {
        Model {
            wte: Embedding::new(params, "wte", VOCAB, EMBED, rng),
            hidden: Linear::new(params, "hidden", BLOCK * EMBED, HIDDEN, rng),
            out: Linear::new(params, "out", HIDDEN, VOCAB, rng),
        }
    }

    /// Logits `[B, VOCAB]` of contexts `[B, BLOCK]`.
    fn forward<'t>(&self, p: &ParamVars<'t>, contexts: &Indices) -> Var<'t> {
        // [B, BLOCK] ids -> [B, BLOCK, EMBED] rows -> one row of BLOCK * EMBED per context.
        let x = self.wte.forward(p, contexts).reshape(&[contexts.shape()[0], BLOCK * EMBED]);
        self.out.forward(p, self.hidden.forward(p, x).tanh())
    }

    /// The mean cross-entropy over a whole set.
    fn loss(&self, params: &Params, (contexts, targets): &(Indices, Indices)) -> f64 {
        let tape = Tape::new();
        self.forward(&params.on(&tape), contexts).cross_entropy(targets).item()
    }

    /// One word, drawn a character at a time from the model's distribution.
    fn sample(&self, params: &Params, rng: &mut StdRng) -> String {
        let mut ctx = [0; BLOCK];
        let mut word = String::new();
        while word.len() < MAX_SAMPLE_LEN {
            let tape = Tape::new();
            let probs = self.forward(&params.on(&tape), &Indices::from([ctx])).softmax(-1).value();
            let id = probs.multinomial(1, true, rng)[0];
            if id == 0 {
                break;
            }
            word.push(decode(id));
            ctx.rotate_left(1);
            ctx[BLOCK - 1] = id;
        }
        word
    }
}

/// The trained model and what the run measured.
struct Run {
    model: Model,
    params: Params,
    val: (Indices, Indices),
    /// The minibatch loss at every step.
    train_curve: Vec<(f64, f64)>,
    /// The validation loss every `EVAL_EVERY` steps and at the end.
    val_curve: Vec<(f64, f64)>,
    train_loss: f64,
    val_loss: f64,
}

fn train(progress: &Progress) -> Run {
    let mut rng = StdRng::seed_from_u64(2003);
    let words: Vec<&str> = WORDS.lines().collect();
    let (train_words, val_words) = train_val_split(words.len(), 0.1, &mut rng);
    let train = examples(train_words.iter().map(|&i| words[i]));
    let val = examples(val_words.iter().map(|&i| words[i]));

    let mut params = Params::new();
    let model = Model::new(&mut params, &mut rng);
    let mut opt = AdamW::new(LR);
    let mut sched = LrScheduler::new(&mut opt, CosineLr { base_lr: LR, t_max: STEPS, eta_min: LR / 20.0 });
    let (mut train_curve, mut val_curve) = (Vec::with_capacity(STEPS), Vec::new());
    for step in 0..STEPS {
        let batch = random_batch(train.1.numel(), BATCH, &mut rng);
        let (xb, yb) = (train.0.index_select(0, &batch), train.1.index_select(0, &batch)); // X[ix], Y[ix]
        let tape = Tape::new();
        let p = params.on(&tape);
        let loss = model.forward(&p, &xb).cross_entropy(&yb);
        opt.step(&mut params, &p.grads(&loss.backward()));
        sched.step(&mut opt);
        train_curve.push((step as f64, loss.item()));
        progress.step(step as u64, loss.item());
        if (step + 1).is_multiple_of(EVAL_EVERY) {
            let v = model.loss(&params, &val);
            val_curve.push(((step + 1) as f64, v));
            progress.println(format!("step {} validation loss {v:.4}", step + 1));
        }
    }
    progress.finish();
    let (train_loss, val_loss) = (model.loss(&params, &train), model.loss(&params, &val));
    Run { model, params, val, train_curve, val_curve, train_loss, val_loss }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let run = train(&Progress::new("names", STEPS as u64));
    let elapsed = start.elapsed();
    println!(
        "{} parameters, {STEPS} steps of {BATCH} in {elapsed:.2?}: loss on the whole training set {:.4}, validation {:.4} \
         (uniform guessing: ln 27 = {:.4})",
        run.params.num_params(),
        run.train_loss,
        run.val_loss,
        (VOCAB as f64).ln()
    );

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir)?;
    let svg = line_chart(
        "names: cross-entropy per step",
        "step",
        "loss",
        XScale::Linear,
        &[
            Series { name: "minibatch (training)".into(), points: run.train_curve.clone() },
            Series { name: "validation".into(), points: run.val_curve.clone() },
        ],
    )?;
    std::fs::write(dir.join("names_loss.svg"), svg)?;
    println!("wrote {}", dir.join("names_loss.svg").display());

    let checkpoint = dir.join("names.safetensors");
    let (reloaded, again) = save_and_reload(&run, &checkpoint)?;
    println!(
        "saved {} and reloaded it: validation loss {again:.4} (identical: {})",
        checkpoint.display(),
        again == run.val_loss
    );
    println!("10 words sampled from the reloaded model: {}", samples(&run.model, &reloaded).join(", "));
    Ok(())
}

/// Saves the trained parameters to `path`, loads them into a fresh store, and gives that store
/// with its validation loss.
fn save_and_reload(run: &Run, path: &std::path::Path) -> Result<(Params, f64), tapegrad::Error> {
    run.params.save(path)?;
    let reloaded = Params::from_file(path)?;
    let loss = run.model.loss(&reloaded, &run.val);
    Ok((reloaded, loss))
}

/// 10 words from a fixed seed.
fn samples(model: &Model, params: &Params) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(10);
    (0..10).map(|_| model.sample(params, &mut rng)).collect()
}

/// `cargo test` runs this (the example is built with `test = true`): the whole run as printed
/// learns (validation loss measured 2.025 in this configuration, asserted below 2.10, against
/// ln 27 = 3.30 for guessing), the checkpoint round trip gives the same loss to the bit, and
/// the samples are words.
#[test]
fn learns_names_and_reloads_them() {
    let run = train(&Progress::silent(STEPS as u64));
    assert!(run.val_loss < 2.10, "validation loss {}", run.val_loss);
    assert!(run.train_loss < run.val_loss + 0.1, "train {} val {}", run.train_loss, run.val_loss);
    assert!(run.val_curve[0].1 > run.val_loss, "{:?}", run.val_curve);
    assert_eq!(run.train_curve.len(), STEPS);

    let path = std::env::temp_dir().join(format!("tapegrad-names-{}.safetensors", std::process::id()));
    let (reloaded, again) = save_and_reload(&run, &path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(again.to_bits(), run.val_loss.to_bits());

    let words = samples(&run.model, &reloaded);
    assert_eq!(words.len(), 10);
    for w in &words {
        assert!(!w.is_empty() && w.len() < MAX_SAMPLE_LEN && w.bytes().all(|c| c.is_ascii_lowercase()), "{w:?}");
    }
}
