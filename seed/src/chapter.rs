//! The seed chapter's facts, as data.
//!
//! Source: the public tutorial series "intro-to-transformers", chapter "Gradients: Loss" (it
//! builds a one-layer transformer by hand in pure Python floats), and its companion scripts,
//! which produced the chapter's probability table. The chapter prints `dL/dlogits = P - onehot`
//! from that table. The numbers below were copied from the chapter's code cells and printed
//! output, digit for digit; `tests/suite/chapter_data.rs` checks that they agree with each other
//! (rows of probabilities sum to 1 within their rounding, the gradient table is `P - onehot`,
//! the printed sums are the table's row sums), and `tests/suite/seed_model.rs` that the rebuilt model
//! reproduces them.
//!
//! ```
//! use tapegrad_seed::chapter::{PROBS, TARGETS, TOKEN_NAMES, TOKENS};
//! // Position 0 reads <BOS> and should predict "I".
//! assert_eq!(TOKEN_NAMES[TOKENS[0]], "<BOS>");
//! assert_eq!(TOKEN_NAMES[TARGETS[0]], "I");
//! assert_eq!(PROBS[0][TARGETS[0]], 0.1254);
//! ```

/// `TOKEN_NAMES`: the vocabulary, in id order.
pub const TOKEN_NAMES: [&str; 6] = ["<PAD>", "<BOS>", "<EOS>", "I", "like", "transformers"];

/// The id of `<BOS>`.
pub const BOS: usize = 1;

/// The id of `<EOS>`.
pub const EOS: usize = 2;

/// `tokens`: the training sequence `<BOS> I like transformers <EOS>`.
pub const TOKENS: [usize; 5] = [1, 3, 4, 5, 2];

/// `targets`: the next token of positions 0..3 (position 4, `<EOS>`, predicts nothing).
pub const TARGETS: [usize; 4] = [3, 4, 5, 2];

/// `probs`: the model's probabilities at positions 0..3, rounded to 4 decimals by the chapter
/// (so a row sums to 1 only within that rounding: position 2 sums to 0.9999).
pub const PROBS: [[f64; 6]; 4] = [
    [0.1785, 0.2007, 0.1759, 0.1254, 0.1563, 0.1632],
    [0.1836, 0.1969, 0.1805, 0.1233, 0.1500, 0.1657],
    [0.1795, 0.2050, 0.1782, 0.1207, 0.1437, 0.1728],
    [0.1855, 0.2017, 0.1771, 0.1271, 0.1391, 0.1695],
];

/// The printed table "Loss Gradients w.r.t. Logits" (`P - onehot`, 4 decimals), one row per
/// position.
pub const PRINTED_GRADIENTS: [[f64; 6]; 4] = [
    [0.1785, 0.2007, 0.1759, -0.8746, 0.1563, 0.1632],
    [0.1836, 0.1969, 0.1805, 0.1233, -0.8500, 0.1657],
    [0.1795, 0.2050, 0.1782, 0.1207, 0.1437, -0.8272],
    [0.1855, 0.2017, -0.8229, 0.1271, 0.1391, 0.1695],
];

/// The printed `sum(gradients)` per position (10 decimals; the chapter's check that a row of
/// `P - onehot` sums to zero, which position 2's rounded probabilities fail by 0.0001).
pub const PRINTED_GRADIENT_SUMS: [f64; 4] = [-0.0, 0.0, -0.0001, 0.0];
