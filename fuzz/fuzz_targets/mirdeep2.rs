//! cargo-fuzz target `mirdeep2`: see `fuzz/src/targets.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evomics_fuzz::run("mirdeep2", data));
