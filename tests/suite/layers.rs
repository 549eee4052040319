//! The layers `docs/architecture.md` draws, enforced on the source: every `crate::` path in
//! `src/**/*.rs` (in `use` declarations and in code, comments and strings left out) may name
//! its own layer or one below, never one above. The exceptions are listed once, in
//! [`ALLOWED`], each with its reason.

mod cycles;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers from the bottom up, each as the top-level modules of `src/` that form it. A
/// module may use its own layer and those below. The last two stand side by side on the same
/// rank: neither uses the other.
const LAYERS: &[(&str, &[&str])] = &[
    ("tensor storage", &["tensor", "error"]),
    ("kernels", &["kernels"]),
    ("autograd core", &["autograd"]),
    // `tensor_arith` is `Tensor`'s arithmetic off the tape, with the ops' own forward kernels;
    // `var_ref_ops` the operators on `&Var`.
    ("ops", &["ops", "tensor_arith", "var_ref_ops"]),
    ("study and checking tools", &["check", "inspect"]),
    ("training", &["nn", "optim", "checkpoint", "data"]),
];

/// Training is built on the engine's public API (`Tensor`, `Var`, `Tape`, `Grads`): it reaches
/// none of these internals, although they are below it.
const NOT_FOR_TRAINING: &[&str] = &["kernels", "ops"];

/// The edges allowed against the rules above: (importing top-level module, path prefix, why).
const ALLOWED: &[(&str, &str, &str)] = &[(
    "autograd",
    "ops::Op",
    "the tape stores one `Op` per node and its backward loop, memory accounting and anomaly \
     checks dispatch through it: the op list in ops/mod.rs generates the enum, so the core \
     names it without knowing any op (the one deliberate upward edge, docs/architecture.md)",
)];

/// One `crate::` path found in the source.
#[derive(Debug)]
struct Edge {
    file: String,
    line: usize,
    path: Vec<String>,
}

/// The rank of a layer (the side-by-side tools and training share the top rank).
fn rank(layer: usize) -> usize {
    layer.min(LAYERS.len() - 2)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The engine's `src/`: this package is `tests/`, beside it.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `source` with comments, string literals and character literals blanked out (newlines
/// kept, so that line numbers still hold).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(chars.get(i.wrapping_sub(1))) {
            // A raw string: r"..." or r#"..."#.
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let body = i + 2 + hashes;
            let end = chars[body..].iter().collect::<String>().find(&close).map(|e| body + e + close.len());
            let end = end.expect("an unterminated raw string");
            chars[i..end].iter().for_each(|&c| out.push(blank(c)));
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\''); a lifetime ('t) has no closing quote.
            let mut j = i + 1;
            if chars[j] == '\\' {
                j += 1;
            }
            j += 1;
            while chars[j] != '\'' {
                j += 1;
            }
            chars[i..=j].iter().for_each(|&c| out.push(blank(c)));
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// A tiny reader of `use` trees and paths over code.
struct Reader<'a> {
    chars: &'a [char],
    at: usize,
}

impl Reader<'_> {
    fn skip_space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let t: Vec<char> = token.chars().collect();
        let word_ends = !t[0].is_alphabetic() || !ident_char(self.chars.get(self.at + t.len()));
        if self.chars[self.at..].starts_with(&t) && word_ends {
            self.at += t.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_space();
        let start = self.at;
        while ident_char(self.chars.get(self.at)) {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    /// The paths of the tree after a `crate::` (or after `use` in lib.rs): `a::b`,
    /// `a::{b, c::{d, e}}`, `a::*`, `a as b`. Each path ends with its name in scope.
    fn tree(&mut self, prefix: &[String], out: &mut Vec<Vec<String>>) {
        if self.eat("{") {
            loop {
                if self.eat("}") {
                    return;
                }
                self.tree(prefix, out);
                self.eat(",");
            }
        }
        if self.eat("*") {
            out.push(prefix.to_vec());
            return;
        }
        let Some(name) = self.ident() else {
            out.push(prefix.to_vec());
            return;
        };
        let mut path = prefix.to_vec();
        path.push(name);
        let before = self.at;
        if self.eat("::") {
            if self.eat("<") {
                // A turbofish ends the path.
                self.at = before;
            } else {
                return self.tree(&path, out);
            }
        }
        if self.eat("as") {
            let alias = self.ident().expect("an alias after `as`");
            path.push(format!("as {alias}"));
        }
        out.push(path);
    }
}

/// The name each item re-exported at the crate root stands for: `Tensor` -> `tensor`, ...
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let code: Vec<char> = code_only(lib).chars().collect();
    let text: String = code.iter().collect();
    let mut map = BTreeMap::new();
    for (byte, _) in text.match_indices("pub use ") {
        let at = text[..byte].chars().count();
        let mut reader = Reader { chars: &code, at: at + "pub use ".len() };
        let mut paths = vec![];
        reader.tree(&[], &mut paths);
        // `pub use ::gemm::...` (an external crate) reads as an empty path.
        for path in paths.into_iter().filter(|path| !path.is_empty()) {
            let name = match path.last().and_then(|last| last.strip_prefix("as ")) {
                Some(alias) => alias.to_string(),
                None => path.last().unwrap().clone(),
            };
            map.insert(name, path[0].clone());
        }
    }
    map
}

/// Every `crate::` (and `$crate::`) path in `source`, with its line.
fn crate_paths(file: &str, source: &str) -> Vec<Edge> {
    let code: Vec<char> = code_only(source).chars().collect();
    let text: String = code.iter().collect();
    let mut edges = vec![];
    for (byte, _) in text.match_indices("crate::") {
        let at = text[..byte].chars().count();
        if at > 0 && ident_char(code.get(at - 1)) {
            continue; // `my_crate::`
        }
        let line = text[..byte].matches('\n').count() + 1;
        let mut reader = Reader { chars: &code, at: at + "crate::".len() };
        let mut paths = vec![];
        reader.tree(&[], &mut paths);
        edges.extend(paths.into_iter().map(|path| Edge { file: file.to_string(), line, path }));
    }
    edges
}

/// The top-level module of `src/` a file belongs to (`src/ops/loss/nll.rs` -> `ops`), or
/// None for the crate root.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?.to_string();
    if relative.components().count() > 1 {
        Some(first)
    } else {
        let stem = first.strip_suffix(".rs")?.to_string();
        (stem != "lib").then_some(stem)
    }
}

/// Every edge that breaks the layering, as a message naming the file, the line and the rule.
fn violations(sources: &[(PathBuf, String)]) -> Vec<String> {
    let lib = &sources.iter().find(|(p, _)| p == Path::new("lib.rs")).expect("src/lib.rs").1;
    let reexports = root_reexports(lib);
    let mut found = vec![];
    for (relative, source) in sources {
        let Some(from) = top_module(relative) else { continue };
        let from_layer =
            layer_of(&from).unwrap_or_else(|| panic!("src/{}: module {from} is in no layer", relative.display()));
        for edge in crate_paths(&relative.display().to_string(), source) {
            let first = &edge.path[0];
            let to = if layer_of(first).is_some() {
                first.clone()
            } else if let Some(module) = reexports.get(first) {
                module.clone()
            } else {
                // An item of lib.rs itself (`crate::ReadmeDoctests`) or an external crate's
                // re-export (`crate::rand`).
                continue;
            };
            let Some(to_layer) = layer_of(&to) else { continue };
            let joined = edge.path.join("::");
            let rule = if rank(to_layer) > rank(from_layer) {
                Some(format!(
                    "{} (layer {}) imports the layer above it, {}",
                    from, LAYERS[from_layer].0, LAYERS[to_layer].0
                ))
            } else if rank(to_layer) == rank(from_layer) && to_layer != from_layer {
                Some(format!(
                    "{} ({}) imports {}, which stands beside it",
                    from, LAYERS[from_layer].0, LAYERS[to_layer].0
                ))
            } else if LAYERS[from_layer].0 == "training" && NOT_FOR_TRAINING.contains(&to.as_str()) {
                Some(format!("{from} (training) reaches into {to}: training uses the public API"))
            } else {
                None
            };
            let allowed = ALLOWED.iter().any(|(module, prefix, _)| *module == from && joined.starts_with(prefix));
            if let Some(rule) = rule
                && !allowed
            {
                found.push(format!("src/{}:{}: crate::{joined}: {rule}", edge.file, edge.line));
            }
        }
    }
    found
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![];
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(src()).unwrap().to_path_buf(), source)
        })
        .collect()
}

#[test]
fn no_layer_imports_a_layer_above_it() {
    let sources = sources();
    assert!(sources.len() > 50, "read {} files of src/", sources.len());
    let found = violations(&sources);
    assert!(found.is_empty(), "imports against the layers (docs/architecture.md):\n{}", found.join("\n"));
}

#[test]
fn every_top_level_module_is_in_a_layer() {
    for (relative, _) in sources() {
        if let Some(module) = top_module(&relative) {
            assert!(layer_of(&module).is_some(), "src/{}: add {module} to LAYERS", relative.display());
        }
    }
}

/// The checker itself: each kind of bad edge is found, and what is not code is ignored.
#[test]
fn the_checker_finds_upward_sideways_and_internal_edges() {
    let lib = "pub use tensor::Tensor;\npub use check::{gradcheck, jacobian as jac};\n".to_string();
    let file = |path: &str, source: &str| (PathBuf::from(path), source.to_string());
    let sources = vec![
        file("lib.rs", &lib),
        file("tensor/view.rs", "use crate::kernels::parallel::{for_each_block, rows_per_block};\n"),
        file("kernels/a.rs", "fn f() { crate::tensor::parallel::map(); }\n// crate::ops::x\n"),
        file("ops/b.rs", "const S: &str = \"crate::check::x\";\nuse crate::{autograd::Var, jac};\n"),
        file("autograd/tape.rs", "use crate::ops::Op;\nuse crate::ops::leaf::Leaf;\n"),
        file("optim/sgd.rs", "fn g<'t>(c: char) { let _ = 'x'; crate::kernels::parallel::update(); }\n"),
        file("nn/mlp.rs", "use crate::{Tensor, gradcheck};\n"),
    ];
    let found = violations(&sources);
    let expected = [
        "src/tensor/view.rs:1: crate::kernels::parallel::for_each_block",
        "src/tensor/view.rs:1: crate::kernels::parallel::rows_per_block",
        "src/ops/b.rs:2: crate::jac",
        "src/autograd/tape.rs:2: crate::ops::leaf::Leaf",
        "src/optim/sgd.rs:1: crate::kernels::parallel::update",
        "src/nn/mlp.rs:1: crate::gradcheck",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (found, expected) in found.iter().zip(expected) {
        assert!(found.starts_with(expected), "{found} (expected {expected})");
    }
}
