//! The seed crate's integration tests, in one binary (each module was a test file of its own).

mod chapter_data;
mod derivation_verdict;
mod pyrandom;
mod seed_chapter;
mod seed_model;
