//! cargo-fuzz entry point; the property lives in `dualgate_fuzz::webdav_xml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dualgate_fuzz::webdav_xml(data));
