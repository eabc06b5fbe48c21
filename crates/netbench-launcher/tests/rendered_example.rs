//! `deploy/rendered-example.yaml` is what `netbench launch --dry-run` prints for fixed inputs.
//! This test re-renders it and fails when it drifts; regenerate with
//! `NETBENCH_BLESS=1 cargo test -p netbench-launcher --test rendered_example`.

use clap::Parser;
use netbench_launcher::cli::LaunchArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    launch: LaunchArgs,
}

/// The inputs of the committed example (everything else is the default).
pub const EXAMPLE_ARGS: &[&str] = &[
    "launch",
    "--benchmark",
    "iperf3-tcp",
    "--dry-run",
    "--run",
    "0123456789ab",
    "--dry-run-nodes",
    "node-1=zone-a,node-2=zone-b,node-3=zone-a",
];

#[test]
fn rendered_example_matches_dry_run_output() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/rendered-example.yaml"
    );
    let header = "# `netbench launch --benchmark iperf3-tcp --dry-run --run 0123456789ab \\\n#    --dry-run-nodes node-1=zone-a,node-2=zone-b,node-3=zone-a`\n# Generated; checked by crates/netbench-launcher/tests/rendered_example.rs.\n";
    let cli = Cli::try_parse_from(EXAMPLE_ARGS).expect("example flags parse");
    let rendered = format!("{header}{}", cli.launch.dry_run_yaml().unwrap());
    if std::env::var_os("NETBENCH_BLESS").is_some() {
        std::fs::write(path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == rendered,
        "deploy/rendered-example.yaml is out of date: re-run this test with NETBENCH_BLESS=1 and commit the result"
    );
    // Every document parses back as YAML with a kind.
    for doc in serde_yaml::Deserializer::from_str(&rendered) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        assert!(v.get("kind").is_some(), "{v:?}");
    }
}

use serde::Deserialize;
