//! Reads the seed chapter (`../shared/seed/000_94856adedbc382e4.txt`): its probability table,
//! its token names, inputs and targets, and the gradient table it prints.
//!
//! The numbers are parsed from the chapter's text rather than copied into the code, so a test
//! that compares against them compares against the chapter itself.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// The chapter's data, as printed in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Chapter {
    /// `TOKEN_NAMES`: the vocabulary, in id order.
    pub token_names: Vec<String>,
    /// `tokens`: the input sequence.
    pub tokens: Vec<usize>,
    /// `targets`: the next token for positions `0..targets.len()`.
    pub targets: Vec<usize>,
    /// `probs`: the model's probabilities per position (rounded to 4 decimals by the chapter).
    pub probs: Vec<Vec<f64>>,
    /// The printed "Loss Gradients w.r.t. Logits" table (4 decimals), one row per position.
    pub printed_gradients: Vec<Vec<f64>>,
    /// The printed `sum(gradients)` per position (the check that rows sum to zero).
    pub printed_gradient_sums: Vec<f64>,
}

impl Chapter {
    /// Where the chapter lives in this repository's layout (`../shared/seed/` beside the crate).
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/000_94856adedbc382e4.txt")
    }

    /// Reads the chapter from [`Chapter::default_path`].
    pub fn load_default() -> Result<Chapter, Error> {
        Chapter::load(Chapter::default_path())
    }

    /// Reads and parses the chapter at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Chapter, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.into(), source })?;
        Chapter::parse(&text).map_err(|message| Error::Format { path: path.into(), message })
    }

    /// Parses the chapter's text.
    pub fn parse(text: &str) -> Result<Chapter, String> {
        let token_names = bracketed_after(text, "TOKEN_NAMES = [")?
            .split(',')
            .map(|name| name.trim().trim_matches('"').to_string())
            .collect();
        let tokens = integers(&bracketed_after(text, "tokens = [")?)?;
        let targets = integers(&bracketed_after(text, "targets = [")?)?;
        let probs = probability_rows(text)?;
        let printed_gradients = gradient_table(text)?;
        let printed_gradient_sums = text
            .lines()
            .filter(|line| line.starts_with("Position ")) // the printed output, not the code
            .filter_map(|line| line.split_once("sum(gradients) = "))
            .map(|(_, rest)| number(rest.split_whitespace().next().unwrap_or("")))
            .collect::<Result<_, _>>()?;
        Ok(Chapter { token_names, tokens, targets, probs, printed_gradients, printed_gradient_sums })
    }
}

/// The text between `start` (which ends with `[`) and the matching `]`.
fn bracketed_after(text: &str, start: &str) -> Result<String, String> {
    let from = text.find(start).ok_or_else(|| format!("no `{start}` in the chapter"))? + start.len();
    let len = text[from..].find(']').ok_or_else(|| format!("`{start}` is not closed"))?;
    Ok(text[from..from + len].to_string())
}

fn number(s: &str) -> Result<f64, String> {
    s.trim().parse().map_err(|_| format!("`{s}` is not a number"))
}

fn integers(list: &str) -> Result<Vec<usize>, String> {
    list.split(',').map(|s| s.trim().parse().map_err(|_| format!("`{s}` is not an index"))).collect()
}

/// The rows of `probs = [ [..],  # pos 0 ... ]`.
fn probability_rows(text: &str) -> Result<Vec<Vec<f64>>, String> {
    let from = text.find("probs = [").ok_or("no `probs = [` in the chapter")?;
    let mut rows = vec![];
    for line in text[from..].lines().skip(1) {
        let line = line.trim();
        if line.starts_with(']') {
            return Ok(rows);
        }
        let inner = line.trim_start_matches('[');
        let inner = &inner[..inner.find(']').ok_or("a probability row is not closed")?];
        rows.push(inner.split(',').map(number).collect::<Result<_, _>>()?);
    }
    Err("the probability table is not closed".into())
}

/// The rows printed under "Loss Gradients w.r.t. Logits" (after its dashed rule): a token name,
/// then one number per class.
fn gradient_table(text: &str) -> Result<Vec<Vec<f64>>, String> {
    // The printed output's title stands alone on its line (the code's print call quotes it).
    let title = "\nLoss Gradients w.r.t. Logits\n";
    let from = text.find(title).ok_or("no printed gradient table in the chapter")?;
    let rule = text[from..].find("\n---").ok_or("the gradient table has no rule")? + from + 1;
    let mut rows = vec![];
    for line in text[rule..].lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 2 {
            break;
        }
        rows.push(fields[1..].iter().map(|s| number(s)).collect::<Result<_, _>>()?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_chapter() {
        let chapter = Chapter::load_default().unwrap();
        assert_eq!(chapter.token_names, ["<PAD>", "<BOS>", "<EOS>", "I", "like", "transformers"]);
        assert_eq!(chapter.tokens, [1, 3, 4, 5, 2]);
        assert_eq!(chapter.targets, [3, 4, 5, 2]);
        assert_eq!(chapter.probs.len(), 4);
        assert_eq!(chapter.probs[0], [0.1785, 0.2007, 0.1759, 0.1254, 0.1563, 0.1632]);
        assert_eq!(chapter.printed_gradients.len(), 4);
        assert_eq!(chapter.printed_gradients[3], [0.1855, 0.2017, -0.8229, 0.1271, 0.1391, 0.1695]);
        assert_eq!(chapter.printed_gradient_sums, [-0.0, 0.0, -0.0001, 0.0]);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = Chapter::load("/no/such/chapter.txt").unwrap_err();
        assert!(err.to_string().starts_with("cannot access /no/such/chapter.txt"), "{err}");
    }
}
