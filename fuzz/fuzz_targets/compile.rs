//! Arbitrary bytes through the whole pipeline: `rmqgen::compile` (parse,
//! validate, render) and `rmqgen::diagnose`, with the checks of
//! `check.rs`. Most inputs stop at the JSON parser; `mutate.rs` reaches
//! validation and rendering more often.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    // Invalid UTF-8 cannot reach the library (the CLI reads a `String`);
    // a lossy conversion keeps the rest of such an input useful.
    check::check(&String::from_utf8_lossy(data));
});
