//! Every integration test of rmqgen, one crate with a module per area (the
//! layout of casey/just's tests/lib.rs): one build, one link, and one place
//! that lists what there is. `cargo test --test integration AREA::` runs
//! one area; the heavy ones are `#[ignore]`d and run by their stage of
//! scripts/test-all.sh (`cargo test --test integration nix_tools:: --
//! --ignored`, and so on).
//!
//! The internals a test reads are in `rmqgen::testing`, which the crate's
//! dev-dependency on itself turns on (the `testing` feature); the areas
//! that run the `rmqgen` binary need the default `cli` feature.

// Helpers shared by the areas: readers of the artifacts, the example
// specs, a scratch directory.
mod common;

// The fast tests, part of plain `cargo test`.
mod bluegreen;
mod changes;
#[cfg(feature = "cli")]
mod cli;
mod diagnostics;
mod host_identity;
mod injection;
mod nixos;
mod rollout;
mod schema;
#[cfg(feature = "cli")]
mod secrets;
mod snapshots;
mod terraform_module;

// Real tools (each #[ignore]d test is one stage of scripts/test-all.sh;
// what does not need a tool runs in plain `cargo test`).
mod cloud_init_tools;
mod lab;
mod libvirt_apply;
mod nix_tools;
mod real_tools;
#[cfg(feature = "cli")]
mod safe_writes;
mod terraform_tools;
