//! The engine's integration tests, in one binary: each file of the old `tests/` is a module
//! here (one test binary links once, instead of once per file). Run a part with a filter:
//! `cargo test --test suite ops::gradcheck`, `cargo test --test suite engine::`.

/// Helpers shared by the modules below.
mod common;

/// The op table: one row per op case, read by the suites that iterate over ops.
mod op_table;

/// The ops: gradchecks with their broadcasting cases, values against PyTorch, panics naming
/// op and shapes, the recorded backward against the fast one.
mod ops {
    mod axes;
    mod backward_graph;
    mod compound_assign;
    mod dropout;
    mod elementwise;
    mod fused_vs_unfused;
    mod gradcheck;
    mod index;
    mod indices;
    mod layout;
    mod linear;
    mod losses;
    mod losses_pytorch;
    mod model;
    mod reductions;
    mod tensor_arith;
    mod tensor_math;
    mod views;
}

/// The tape and its backward: anomaly mode, errors and panics, hostile and non-finite inputs,
/// memory, releasing values, random graphs, long runs (ignored by default).
mod engine {
    mod anomaly;
    mod error_location;
    mod errors;
    mod hostile;
    mod memory;
    mod nan_inputs;
    mod nan_semantics;
    mod no_grad;
    mod overflow;
    mod proptest_graphs;
    mod release;
    mod soak;
    mod tape;
    mod tape_identity;
}

/// The layers of docs/architecture.md, checked on the imports of src/.
mod layers;

/// The study tools: Hessians, Jacobians, dumps and pictures of a tape.
mod tools {
    mod derivation;
    mod hessian;
    mod inspect;
    mod jacobian;
}

/// Training: parameters, optimizers, checkpoints.
mod training {
    mod checkpoint;
    mod end_to_end;
    mod lr_schedulers;
    mod optim;
    mod optim_shape_checks;
}
