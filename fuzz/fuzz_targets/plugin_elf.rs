#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| carme_fuzz_checks::plugin_elf(data));
