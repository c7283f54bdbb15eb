//! cargo-fuzz entry point; the property lives in `dualgate_fuzz::http_framing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dualgate_fuzz::http_framing(data));
