//! cargo-fuzz target `tmt_integrator`: see `fuzz/src/targets.rs`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| evomics_fuzz::run("tmt_integrator", data));
