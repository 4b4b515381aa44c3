//! nonstop: 子育てノンストップ. Tells Japanese parents, at the right moment, what they must do
//! for their child, and prepares the paperwork so that they only check and sign.
//!
//! See `docs/ARCHITECTURE.md` for the map of this crate.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod error;
pub mod error_codes;
pub mod jobs;
pub mod jpki;
pub mod outbound;
pub mod push;
pub mod service;
pub mod telemetry;
pub mod templates;
