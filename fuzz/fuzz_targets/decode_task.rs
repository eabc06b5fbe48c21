//! Any bytes on a worker's task subject: decoding never panics; a decoded task either validates
//! against the catalogue or is rejected, never both.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netbench_proto::{decode_control, TaskRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(TaskRequest::StartServer(spec) | TaskRequest::RunClient(spec)) =
        decode_control::<TaskRequest>(None, data)
    {
        for role in [netbench_bench::Role::Server, netbench_bench::Role::Client] {
            if netbench_bench::validate(&spec, role).is_ok() {
                let bench = netbench_bench::find(&spec.benchmark).unwrap();
                let (program, args) = netbench_bench::render(bench, role, &spec.params);
                assert_eq!((program, args), (spec.command.clone(), spec.args.clone()));
            }
        }
    }
});
