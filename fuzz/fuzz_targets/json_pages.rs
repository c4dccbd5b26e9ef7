//! `cargo fuzz run json_pages` (see scripts/fuzz): the properties are in `src/targets.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyrot_fuzz::targets::json_pages(data));
