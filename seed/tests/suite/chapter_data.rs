//! The chapter's numbers, as carried in `tapegrad_seed::chapter` and `tapegrad_seed::published`,
//! agree with each other and with what the chapter says they are: probabilities that sum to 1
//! within their rounding, a gradient table that is `P - onehot`, printed sums that are its row
//! sums, targets that are the next tokens, published values at the entries they name.

use tapegrad::Tensor;
use tapegrad_seed::chapter::{BOS, EOS, PRINTED_GRADIENT_SUMS, PRINTED_GRADIENTS, PROBS, TARGETS, TOKEN_NAMES, TOKENS};
use tapegrad_seed::model::{PARAM_NAMES, SeedParams};
use tapegrad_seed::published::{PUBLISHED, PUBLISHED_ENTRIES, published_entries};

/// `x` rounded to `d` decimals, as the chapter prints it.
fn round(x: f64, d: i32) -> f64 {
    let s = 10f64.powi(d);
    (x * s).round() / s
}

#[test]
fn probabilities_have_4_decimals_and_rows_sum_to_1_within_their_rounding() {
    for (i, row) in PROBS.iter().enumerate() {
        for &p in row {
            assert!(p > 0.0 && p < 1.0, "P[{i}] holds {p}");
            assert_eq!(round(p, 4), p, "P[{i}] holds {p}, not 4 decimals");
        }
        // Six values each rounded by at most half a unit of the 4th decimal.
        let sum: f64 = row.iter().sum();
        assert!((sum - 1.0).abs() <= 6.0 * 0.5e-4, "row {i} sums to {sum}");
    }
    // The chapter's own remark: position 2 sums to 0.9999.
    assert_eq!(round(PROBS[2].iter().sum(), 4), 0.9999);
}

#[test]
fn the_printed_gradient_table_is_p_minus_onehot() {
    for (i, (grads, probs)) in PRINTED_GRADIENTS.iter().zip(&PROBS).enumerate() {
        for (j, (&g, &p)) in grads.iter().zip(probs).enumerate() {
            let onehot = if j == TARGETS[i] { 1.0 } else { 0.0 };
            assert_eq!(round(p - onehot, 4), g, "printed dL/dlogit[{i}][{j}]");
        }
    }
}

#[test]
fn the_printed_sums_are_the_rows_sums_to_10_decimals() {
    for (i, row) in PROBS.iter().enumerate() {
        // The chapter sums its row of P - onehot: the probabilities, less 1 at the target.
        let sum: f64 = row.iter().sum::<f64>() - 1.0;
        assert_eq!(round(sum, 10), PRINTED_GRADIENT_SUMS[i], "position {i}");
    }
}

#[test]
fn targets_are_the_next_tokens_of_the_sentence() {
    assert_eq!(TOKEN_NAMES.len(), 6);
    assert_eq!((TOKEN_NAMES[BOS], TOKEN_NAMES[EOS]), ("<BOS>", "<EOS>"));
    assert_eq!(TOKENS[0], BOS);
    assert_eq!(TOKENS[TOKENS.len() - 1], EOS);
    assert_eq!(TARGETS[..], TOKENS[1..]);
    let sentence: Vec<&str> = TOKENS.iter().map(|&t| TOKEN_NAMES[t]).collect();
    assert_eq!(sentence, ["<BOS>", "I", "like", "transformers", "<EOS>"]);
    assert_eq!(PROBS.len(), TARGETS.len());
    assert_eq!(PRINTED_GRADIENTS.len(), TARGETS.len());
}

#[test]
fn published_values_have_6_decimals_and_sit_where_they_say() {
    for &v in &PUBLISHED {
        assert_eq!(round(v, 6), v, "{v} is not given to 6 decimals");
    }
    let shapes = SeedParams::init().tensors().map(|t| t.shape().to_vec());
    // dE_tok[<BOS>][0..4]: row BOS of [6, 16].
    for (i, &(param, at)) in PUBLISHED_ENTRIES[..4].iter().enumerate() {
        assert_eq!((PARAM_NAMES[param], shapes[param].as_slice()), ("E_tok", &[6, 16][..]));
        assert_eq!((at / 16, at % 16), (BOS, i));
    }
    // dW_V[head 0][row 0][0..4] of [2, 16, 8].
    for (i, &(param, at)) in PUBLISHED_ENTRIES[4..].iter().enumerate() {
        assert_eq!((PARAM_NAMES[param], shapes[param].as_slice()), ("W_V", &[2, 16, 8][..]));
        assert_eq!((at / (16 * 8), at / 8 % 16, at % 8), (0, 0, i));
    }
    // published_entries reads exactly those elements: tag every element with (param, index).
    let tagged: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let n = s.iter().product::<usize>();
            Tensor::new((0..n).map(|at| (1000 * k + at) as f64).collect(), s).unwrap()
        })
        .collect();
    let expected = PUBLISHED_ENTRIES.map(|(param, at)| (1000 * param + at) as f64);
    assert_eq!(published_entries(&tagged), expected);
}
