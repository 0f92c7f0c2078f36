//! cargo-fuzz target `gzip`: see `fuzz/src/targets.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evomics_fuzz::run("gzip", data));
