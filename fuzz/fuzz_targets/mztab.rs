//! cargo-fuzz target `mztab`: see `fuzz/src/targets.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evomics_fuzz::run("mztab", data));
