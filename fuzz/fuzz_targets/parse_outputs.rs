//! Any text as any tool's output: every parser returns metrics or an error, never panics, and
//! every metric it returns is one its catalogue entry defines.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for bench in netbench_bench::CATALOGUE {
        if let Ok(values) = (bench.parse)(&text) {
            for (name, _) in values {
                assert!(bench.metric(name).is_some(), "{} emitted {name}", bench.name);
            }
        }
    }
});
