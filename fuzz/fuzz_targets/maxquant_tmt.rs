//! cargo-fuzz target `maxquant_tmt`: see `fuzz/src/targets.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evomics_fuzz::run("maxquant_tmt", data));
