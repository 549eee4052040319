//! The seed chapter's loss graph, to look at: the seed transformer's whole tape as a table
//! (one row per node, with what each keeps for backward), then as a Graphviz picture.
//!
//! ```text
//! cargo run --example seed_graph             # writes target/seed_graph.dot (and .svg)
//! cargo run --example seed_graph -- out.dot  # or to a path of your choice
//! ```
//!
//! The `.svg` needs Graphviz's `dot` program (`apt-get install graphviz`,
//! `brew install graphviz`, or <https://graphviz.org/download/>). Without it the example
//! writes the `.dot` file and says how to render it; it does not fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use tapegrad::Tape;
use tapegrad_seed::chapter::{TARGETS, TOKENS};
use tapegrad_seed::model::SeedParams;

/// The folder holding the workspace (this crate is its `seed/` member).
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = SeedParams::init();
    let tape = Tape::new();
    let vars = params.vars(&tape);
    let logits = vars.forward(&TOKENS).logits;
    let loss = vars.mean_loss(logits, &TARGETS);
    let grads = loss.backward();
    println!("The seed transformer's tape (loss {:.6}):\n", loss.item());
    print!("{}", tape.dump().grads(&grads));

    let dot_path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        // The workspace's target folder: the one beside this crate's folder.
        .unwrap_or_else(|| workspace_root().join("target").join("seed_graph.dot"));
    if let Some(dir) = dot_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&dot_path, tape.to_dot_with(&grads))?;
    println!("\nwrote {}", dot_path.display());
    let svg_path = dot_path.with_extension("svg");
    match Command::new("dot").arg("-Tsvg").arg(&dot_path).arg("-o").arg(&svg_path).status() {
        Ok(status) if status.success() => println!("wrote {}", svg_path.display()),
        Ok(status) => println!("dot failed ({status}); the .dot file is still there"),
        Err(_) => println!(
            "Graphviz's `dot` is not installed, so no .svg. Install it (apt-get install graphviz, \
             brew install graphviz, https://graphviz.org/download/) and run\n  dot -Tsvg {} -o {}",
            dot_path.display(),
            svg_path.display()
        ),
    }
    Ok(())
}
