//! No import cycles between the files of `src/`: the graph whose nodes are the files and whose
//! edges are the paths one file names into another (`use` declarations and paths in code) has
//! no cycle, apart from the one deliberate edge upwards that [`ALLOWED`] lists and the
//! [`KNOTS`]: files that form one unit, each listed with its reason.
//!
//! A path is followed to the file that defines the item: `crate::`, `super::`, `self::` and a
//! child module's name are resolved against the module tree of `src/` (files and inline
//! `mod name { .. }` blocks), and a name a module imports (`pub use child::Item`,
//! `use crate::tensor::axis::resolve_axis`) is followed to where the import leads. A `pub use`
//! re-export is no edge of its own (`autograd/mod.rs` re-exporting `Var` does not depend on
//! `var.rs`, the files that use `crate::autograd::Var` do) unless its file uses the name as
//! well. Unit tests (`#[cfg(test)]` modules) may use the whole crate: they are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{ALLOWED, Reader, code_only, ident_char, sources, top_module};

/// The groups of files allowed to import each other, each with its reason. A group must be
/// exactly one knot of the graph: a file that joins it, or one that leaves it, fails the test
/// until the list says so.
const KNOTS: &[(&[&str], &str)] = &[
    (
        &[
            "autograd/anomaly.rs",
            "autograd/leaf.rs",
            "autograd/release.rs",
            "autograd/rule.rs",
            "autograd/slip.rs",
            "autograd/tape.rs",
            "autograd/var.rs",
        ],
        "the core's types refer to each other: a Tape stores Nodes and hands out Vars, a Var is a \
         handle on its Tape, a rule reads the tape through BackwardCx; anomaly checks, releasing \
         values and the leaf nodes are the Tape's own, one file per job",
    ),
    (
        &["ops/unary/activation.rs", "ops/unary/math.rs", "ops/unary/mod.rs"],
        "one op family: Unary holds a Math or an Activation, and each family's arms and methods \
         on Var run through the dispatch and the recording of unary/mod.rs",
    ),
];

/// The edges between files, (from, to), with the imports that make each.
type Edges = BTreeMap<(usize, usize), Vec<Import>>;

/// One path a file names into another file, where it is written.
#[derive(Clone, Debug)]
struct Import {
    line: usize,
    /// The path as written (`crate::kernels::binary::eval`, `super::Hand`).
    written: String,
}

/// The module tree of `src/` and what each module imports.
struct Crate {
    /// Every module (`["ops", "loss", "nll"]`, the root `[]`, inline `mod tests`) and its file.
    modules: BTreeMap<Vec<String>, usize>,
    /// The files, relative to `src/`.
    files: Vec<PathBuf>,
    /// For each module, the names its `use` declarations bring into scope and the absolute
    /// paths they stand for (`resolve_axis` -> `tensor::axis::resolve_axis`).
    imports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
}

/// The module path of a file: `ops/loss/nll.rs` -> `[ops, loss, nll]`, `ops/mod.rs` -> `[ops]`,
/// `lib.rs` -> `[]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_str().unwrap().to_string()).collect();
    let last = parts.pop().unwrap();
    let stem = last.strip_suffix(".rs").unwrap();
    if !(stem == "mod" || (parts.is_empty() && stem == "lib")) {
        parts.push(stem.to_string());
    }
    parts
}

/// An inline module of a file (`mod tests { .. }`): its name, its first char and one past its
/// closing brace, and whether it is compiled for tests only (`#[cfg(test)]`).
struct Inline {
    name: String,
    start: usize,
    end: usize,
    test_only: bool,
}

/// The inline modules of a file's code, outermost first.
fn inline_modules(code: &[char]) -> Vec<Inline> {
    let text: String = code.iter().collect();
    let mut found = vec![];
    for (byte, _) in text.match_indices("mod ") {
        let at = text[..byte].chars().count();
        if at > 0 && ident_char(code.get(at - 1)) {
            continue;
        }
        let mut reader = Reader { chars: code, at: at + "mod ".len() };
        let Some(name) = reader.ident() else { continue };
        if !reader.eat("{") {
            continue; // `mod name;`: a file of its own
        }
        let mut depth = 1;
        let mut end = reader.at;
        while depth > 0 {
            match code[end] {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            end += 1;
        }
        let before: String = code[at.saturating_sub(40)..at].iter().collect();
        let test_only = before.trim_end().ends_with("#[cfg(test)]");
        found.push(Inline { name, start: at, end, test_only });
    }
    found
}

/// The module that the code at char `at` of a file (module `file`) is in.
fn module_at(file: &[String], inline: &[Inline], at: usize) -> Vec<String> {
    let mut module = file.to_vec();
    module.extend(inline.iter().filter(|m| (m.start..m.end).contains(&at)).map(|m| m.name.clone()));
    module
}

/// Whether the code at char `at` is compiled for tests only.
fn in_tests(inline: &[Inline], at: usize) -> bool {
    inline.iter().any(|m| m.test_only && (m.start..m.end).contains(&at))
}

/// One path written in a file: where, the module it is written in, its segments, and whether
/// it is a re-export (`pub use`).
struct Written {
    at: usize,
    module: Vec<String>,
    path: Vec<String>,
    /// In a `use` declaration.
    is_use: bool,
    /// In a `pub use` (or `pub(crate) use`) declaration.
    reexport: bool,
}

/// Every path in `code` that starts with `crate`, `super`, `self` or the name of a child
/// module of the module it is written in, and every `use` declaration's paths.
fn written_paths(code: &[char], file: &[String], inline: &[Inline], crate_: &Crate) -> Vec<Written> {
    let mut found = vec![];
    let mut at = 0;
    while at < code.len() {
        if code[at].is_whitespace() || (at > 0 && (ident_char(code.get(at - 1)) || matches!(code[at - 1], '.' | ':'))) {
            at += 1;
            continue;
        }
        let module = module_at(file, inline, at);
        let mut reader = Reader { chars: code, at };
        let is_use = reader.eat("use") && code.get(reader.at).is_some_and(|c| c.is_whitespace() || *c == '{');
        if !is_use {
            reader.at = at;
            let starts_a_path = reader.ident().is_some_and(|first| {
                let local = first == "crate" || first == "super" || first == "self" || {
                    let mut child = module.clone();
                    child.push(first.clone());
                    crate_.modules.contains_key(&child)
                };
                local && reader.eat("::")
            });
            if !starts_a_path {
                at += 1;
                continue;
            }
            reader.at = at;
        }
        let mut paths = vec![];
        reader.tree(&[], &mut paths);
        let before: String = code[at.saturating_sub(24)..at].iter().collect();
        let before = before.trim_end();
        let reexport = is_use && (before.ends_with("pub") || (before.ends_with(')') && before.contains("pub(")));
        found.extend(paths.into_iter().map(|path| Written { at, module: module.clone(), path, is_use, reexport }));
        at = reader.at.max(at + 1);
    }
    found
}

/// `path` as written in `module`, made absolute (from the crate root), with its name in scope
/// (the alias, or the last segment): None for an external crate's path (`std::`, `rand::`).
fn absolute(path: &[String], module: &[String], crate_: &Crate) -> Option<(Vec<String>, String)> {
    let mut path = path.to_vec();
    let alias = path.last().and_then(|last| last.strip_prefix("as ")).map(str::to_string);
    if alias.is_some() {
        path.pop();
    }
    if path.last().is_some_and(|last| last == "self") {
        path.pop();
    }
    let first = path.first()?.clone();
    let mut out = module.to_vec();
    let rest = match first.as_str() {
        "crate" => {
            out.clear();
            &path[1..]
        }
        "self" => &path[1..],
        "super" => {
            let supers = path.iter().take_while(|s| *s == "super").count();
            for _ in 0..supers {
                out.pop();
            }
            &path[supers..]
        }
        _ => {
            let mut child = module.to_vec();
            child.push(first.clone());
            if !crate_.modules.contains_key(&child) {
                return None;
            }
            &path[..]
        }
    };
    out.extend(rest.iter().cloned());
    let name = alias.or_else(|| out.last().cloned()).unwrap_or_default();
    Some((out, name))
}

impl Crate {
    /// The file that defines what the absolute `path` names: the deepest module on the path,
    /// or where that module's import of the next name leads.
    fn file_of(&self, path: &[String], hops: usize) -> usize {
        assert!(hops < 32, "a loop of imports at {path:?}");
        let depth = (0..=path.len()).rev().find(|&k| self.modules.contains_key(&path[..k])).unwrap();
        let module = &path[..depth];
        if let Some(name) = path.get(depth)
            && let Some(target) = self.imports.get(module).and_then(|names| names.get(name))
            && target.as_slice() != path
        {
            let mut next = target.clone();
            next.extend(path[depth + 1..].iter().cloned());
            return self.file_of(&next, hops + 1);
        }
        self.modules[module]
    }
}

/// The edges between files: (from, to) -> the imports that make it, the allowed upward edge
/// left out.
fn file_graph(sources: &[(PathBuf, String)]) -> (Vec<PathBuf>, Edges) {
    let codes: Vec<Vec<char>> = sources.iter().map(|(_, source)| code_only(source).chars().collect()).collect();
    let mut crate_ = Crate {
        modules: BTreeMap::new(),
        files: sources.iter().map(|(p, _)| p.clone()).collect(),
        imports: BTreeMap::new(),
    };
    let inlines: Vec<_> = codes.iter().map(|code| inline_modules(code)).collect();
    for (file, (relative, _)) in sources.iter().enumerate() {
        let module = module_of(relative);
        for inline in &inlines[file] {
            let mut inner = module_at(&module, &inlines[file], inline.start);
            inner.push(inline.name.clone());
            crate_.modules.insert(inner, file);
        }
        crate_.modules.insert(module, file);
    }
    let mut written = vec![];
    for (file, (relative, _)) in sources.iter().enumerate() {
        for w in written_paths(&codes[file], &module_of(relative), &inlines[file], &crate_) {
            let line = codes[file][..w.at].iter().filter(|&&c| c == '\n').count() + 1;
            if let Some((path, name)) = absolute(&w.path, &w.module, &crate_) {
                if w.is_use && !name.is_empty() {
                    crate_.imports.entry(w.module.clone()).or_default().insert(name, path.clone());
                }
                written.push((file, line, w, path));
            }
        }
    }
    let mut edges = Edges::new();
    for (file, line, w, path) in written {
        let from_top = top_module(&sources[file].0).unwrap_or_default();
        let joined = path.join("::");
        let allowed = ALLOWED.iter().any(|(module, prefix, _)| *module == from_top && joined.starts_with(prefix));
        // A re-export is an edge only when the file itself uses the name too (`Unary` holds
        // the `Math` that `unary/mod.rs` re-exports).
        let used_here = || {
            let name = w.path.last().map(|n| n.strip_prefix("as ").unwrap_or(n)).unwrap_or_default();
            words(&codes[file], &inlines[file]).filter(|word| word == name).count() > 1
        };
        if allowed || in_tests(&inlines[file], w.at) || (w.reexport && !used_here()) {
            continue;
        }
        let to = crate_.file_of(&path, 0);
        if to != file {
            edges.entry((file, to)).or_default().push(Import { line, written: w.path.join("::") });
        }
    }
    (crate_.files, edges)
}

/// The identifiers of a file's code outside its test modules.
fn words<'a>(code: &'a [char], inline: &'a [Inline]) -> impl Iterator<Item = String> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < code.len() && (!ident_char(code.get(at)) || in_tests(inline, at)) {
            at += 1;
        }
        let start = at;
        while ident_char(code.get(at)) {
            at += 1;
        }
        (at > start).then(|| code[start..at].iter().collect())
    })
}

/// Every cycle of the graph, one per strongly connected component of more than one file that
/// is not one of `knots`: the files around one loop, each with the import that leads to the
/// next; and every entry of `knots` that is no longer a knot.
fn cycles(files: &[PathBuf], edges: &Edges, knots: &[(&[&str], &str)]) -> Vec<String> {
    let mut next: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for &(from, to) in edges.keys() {
        next.entry(from).or_default().insert(to);
    }
    let reach = |start: usize| {
        let mut seen = BTreeSet::from([start]);
        let mut stack = vec![start];
        while let Some(f) = stack.pop() {
            for &t in next.get(&f).into_iter().flatten() {
                if seen.insert(t) {
                    stack.push(t);
                }
            }
        }
        seen
    };
    let reached: Vec<BTreeSet<usize>> = (0..files.len()).map(reach).collect();
    let mut reported = BTreeSet::new();
    let mut found = vec![];
    let knot_names = |knot: &[&str]| knot.iter().map(|f| f.to_string()).collect::<BTreeSet<_>>();
    let mut matched = BTreeSet::new();
    for first in 0..files.len() {
        if reported.contains(&first) {
            continue;
        }
        let component: BTreeSet<usize> =
            reached[first].iter().copied().filter(|&f| reached[f].contains(&first)).collect();
        if component.len() < 2 {
            continue;
        }
        reported.extend(component.iter().copied());
        let names: BTreeSet<String> = component.iter().map(|&f| files[f].display().to_string()).collect();
        let within: Vec<usize> = (0..knots.len()).filter(|&k| knot_names(knots[k].0).is_subset(&names)).collect();
        matched.extend(within.iter().copied());
        if within.iter().any(|&k| knot_names(knots[k].0) == names) {
            continue;
        }
        // The loop shown starts at a file outside the listed knots, so that it takes the
        // import that tied the knot.
        let in_a_knot =
            |f: usize| knots.iter().any(|(knot, _)| knot_names(knot).contains(&files[f].display().to_string()));
        let start = component.iter().copied().find(|&f| !in_a_knot(f)).unwrap_or(first);
        // The shortest loop through `start`, by a breadth-first search back to it.
        let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(f) = queue.pop_front() {
            for &t in next.get(&f).into_iter().flatten() {
                if t == start {
                    came_from.insert(start, f);
                    break 'search;
                }
                if component.contains(&t) && !came_from.contains_key(&t) {
                    came_from.insert(t, f);
                    queue.push_back(t);
                }
            }
        }
        let mut loop_ = vec![start];
        let mut f = came_from[&start];
        while f != start {
            loop_.push(f);
            f = came_from[&f];
        }
        loop_.reverse();
        loop_.rotate_right(1);
        let name = |f: usize| format!("src/{}", files[f].display());
        let mut message =
            format!("{} -> {}", loop_.iter().map(|&f| name(f)).collect::<Vec<_>>().join(" -> "), name(start));
        for (k, &from) in loop_.iter().enumerate() {
            let to = loop_[(k + 1) % loop_.len()];
            let import = &edges[&(from, to)][0];
            message.push_str(&format!("\n    {}:{} names {}", name(from), import.line, import.written));
        }
        if component.len() > loop_.len() {
            let others: Vec<String> = component.iter().filter(|f| !loop_.contains(f)).map(|&f| name(f)).collect();
            let listed = if others.len() <= 8 { others.join(", ") } else { format!("{} other files", others.len()) };
            message.push_str(&format!("\n    (in one knot with {listed})"));
        }
        found.push(message);
    }
    for (k, (knot, _)) in knots.iter().enumerate() {
        if !matched.contains(&k) {
            found.push(format!("KNOTS lists {knot:?}, which no longer form one knot: update the list"));
        }
    }
    found
}

#[test]
fn no_import_cycle_between_files() {
    let sources = sources();
    let (files, edges) = file_graph(&sources);
    assert!(edges.len() > 100, "found only {} edges between the files of src/", edges.len());
    let found = cycles(&files, &edges, KNOTS);
    assert!(found.is_empty(), "import cycles between the files of src/ (docs/architecture.md):\n{}", found.join("\n"));
}

/// The checker itself: a cycle between siblings (through `super::` and a child module's
/// name), one through a re-export, and one through `crate::` paths are each found and named;
/// test code, a re-export alone and a listed knot are not cycles.
#[test]
fn the_checker_finds_cycles_through_every_kind_of_path() {
    let file = |path: &str, source: &str| (PathBuf::from(path), source.to_string());
    let sources = vec![
        file("lib.rs", "mod a;\nmod b;\nmod c;\npub use a::One;\n"),
        // a/mod.rs re-exports x's item and defines one of its own that x uses: no cycle.
        file("a/mod.rs", "mod x;\nmod y;\npub use x::Two;\npub(crate) struct One(y::Four);\n"),
        file("a/x.rs", "use super::One;\npub struct Two;\n#[cfg(test)]\nmod tests { use crate::b::Three; }\n"),
        // a/y.rs <-> b.rs: through `crate::One` (lib.rs re-exports a::One, defined in a/mod.rs)
        // and a path in code.
        file("a/y.rs", "pub struct Four;\nfn f() { crate::b::g(); }\n"),
        file("b.rs", "use crate::One;\npub fn g() {}\npub struct Three;\n"),
        file("c.rs", "use crate::a::Two;\n"),
    ];
    let (files, edges) = file_graph(&sources);
    let found = cycles(&files, &edges, &[]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("src/a/mod.rs -> src/a/y.rs -> src/b.rs -> src/a/mod.rs"), "{}", found[0]);
    // x.rs's test module names b.rs, and b.rs reaches a/mod.rs, not x.rs: no cycle through x.
    assert!(!found[0].contains("x.rs"), "{}", found[0]);
    // Listed as one unit, the knot passes; a listed knot that is no longer one fails.
    assert!(cycles(&files, &edges, &[(&["a/mod.rs", "a/y.rs", "b.rs"], "why")]).is_empty());
    let stale = cycles(&files, &edges, &[(&["a/mod.rs", "a/y.rs", "b.rs"], "why"), (&["c.rs", "a/x.rs"], "why")]);
    assert_eq!(stale.len(), 1, "{stale:#?}");
    assert!(stale[0].contains("no longer"), "{}", stale[0]);
}
