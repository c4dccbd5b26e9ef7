//! `cargo fuzz run config` (see scripts/fuzz): the properties are in `src/targets.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyrot_fuzz::targets::config(data));
