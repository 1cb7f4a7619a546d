//! Hot-path kernels of llm-incident-manager.
//!
//! Algorithms live in pure-Rust modules over `&str` and slices, each with its own unit tests; the
//! Python binding layer (`python`, behind the `python` feature that maturin turns on) only converts
//! arguments, releases the GIL for the batch and converts results back.

pub mod embed;
pub mod fingerprint;
pub mod fuzzy;
pub mod redact;
pub mod similarity;
pub mod text;

#[cfg(feature = "python")]
mod python;
