//! cargo-fuzz target `proteome_discoverer`: see `fuzz/src/targets.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evomics_fuzz::run("proteome_discoverer", data));
