//! Any bytes on the orchestrator's register subject: decoding never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = netbench_proto::decode_control::<netbench_proto::Register>(None, data);
    let _ = netbench_proto::decode_control::<netbench_proto::Reply>(None, data);
});
