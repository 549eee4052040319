//! Study tools: see the tape, its memory, its picture, and catch the first NaN.
//!
//! - [`Tape::dump`](crate::Tape::dump) (and `Display` for [`Tape`](crate::Tape)): one row per
//!   node with its op, inputs, shape, bytes, and what it keeps alive for backward; totals and a
//!   legend at the bottom. Add value and gradient summaries with [`Dump::values`] and
//!   [`Dump::grads`].
//! - [`Tape::to_dot`](crate::Tape::to_dot): the graph in Graphviz DOT. Render it with
//!   `dot -Tsvg tape.dot -o tape.svg` (Graphviz: `apt-get install graphviz`,
//!   `brew install graphviz`, or <https://graphviz.org/download/>).
//! - [`Tape::memory`](crate::Tape::memory): the accounting behind the dump's bytes, as data.
//! - [`Tape::with_profiling`](crate::Tape::with_profiling) and
//!   [`Tape::profile`](crate::Tape::profile): forward and backward time per node, totals by
//!   kind of op; `tape.dump().profile()` adds them as columns.
//! - [`Tape::with_anomaly_detection`](crate::Tape::with_anomaly_detection): stops at the first
//!   op whose forward output or backward gradient holds NaN or ±inf, naming the op, its node id
//!   and the line of your code that recorded it ([`Anomaly`](crate::Anomaly)).
//! - [`jacobian`](crate::jacobian) and [`check_equivalent`](crate::check_equivalent) live at
//!   the crate root.
//!
//! # Bytes kept alive for backward
//!
//! A node's backward rule reads the upstream gradient plus some of: its own forward value
//! ("out"), the values of some of its inputs ("#id"), and data its op saved in the forward
//! pass beyond values (targets, log-sum-exp, arg-max, ...: "extras"). A buffer is *kept alive
//! for backward* when a rule that will run reads it; one no rule reads could be freed as soon
//! as the forward pass has used it. Over a tape:
//!
//! - a node's value counts once however many rules read it, charged to the node that made it;
//! - extras are charged to the node that saved them;
//! - only nodes that need a gradient count (the others' rules never run), and a rule counts
//!   only what the gradients that are wanted need: `x.matmul(w)` with a constant `x` keeps `x`
//!   (for `dw = x^T g`) but not `w`;
//! - shapes, axis numbers and scalar constants are metadata and are not counted.
//!
//! Fused softmax cross-entropy keeps the logits and one log-sum-exp per row (two numbers: its
//! max and the log of its shifted sum, kept apart);
//! `softmax -> log -> nll_loss` keeps the probabilities `P` (read by softmax's rule as its
//! output and by log's rule as its input: one buffer) and would keep the logits too if
//! anything else read them:
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//! let tape = Tape::new();
//! let x = tape.var(Tensor::zeros(&[2, 3]));
//! let loss = x.cross_entropy(&[0, 2]);
//! let grads = loss.backward();
//! print!("{}", tape.dump().grads(&grads));
//! assert_eq!(tape.memory().kept_bytes(), 6 * 8 + 2 * 8 + 2 * 16); // logits, targets, lse
//! ```

mod dot;
mod dump;
pub(crate) mod memory;
mod profile;

pub use dump::Dump;
pub(crate) use dump::human_bytes;
pub use memory::{MemoryReport, NodeMemory};
pub use profile::{NodeTime, OpTime, Profile};
