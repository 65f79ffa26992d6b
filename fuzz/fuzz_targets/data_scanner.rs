//! Fuzz target `data_scanner`: see the function of that name in ../properties.rs for what it checks.
#![no_main]

#[allow(dead_code)]
#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::data_scanner(data));
