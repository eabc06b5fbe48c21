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
    for doc in serde_norway::Deserializer::from_str(&rendered) {
        let v = serde_norway::Value::deserialize(doc).unwrap();
        assert!(v.get("kind").is_some(), "{v:?}");
    }
}

use serde::Deserialize;

/// `--dry-run --tls` renders the extra objects (placeholders where a launch generates the CA,
/// certificate and key) and every pod agrees on where the CA is.
#[test]
fn dry_run_with_tls_renders_the_certificate_objects() {
    let cli = Cli::try_parse_from(EXAMPLE_ARGS.iter().chain(&["--tls"])).unwrap();
    let rendered = cli.launch.dry_run_yaml().unwrap();
    let docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(&rendered)
        .map(|d| serde_norway::Value::deserialize(d).unwrap())
        .collect();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in:\n{rendered}"))
    };
    let secret = find("Secret", "nats-tls");
    assert!(secret["stringData"]["server-key.pem"]
        .as_str()
        .unwrap()
        .starts_with("generated at launch"));
    assert!(find("Secret", "nats-auth")["stringData"]["auth.conf"]
        .as_str()
        .unwrap()
        .contains("tls {"));
    assert!(find("ConfigMap", "nats-ca")["data"]["ca.pem"].is_string());
    for w in ["worker-node-1", "worker-node-2", "worker-node-3"] {
        let env = &find("Pod", w)["spec"]["containers"][0]["env"];
        let url = env
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "NATS_URL");
        assert_eq!(
            url.unwrap()["value"],
            "tls://nats.netbench-0123456789ab.svc:4222"
        );
    }
    // The same documents as without --tls, plus exactly the two new ones.
    let plain = Cli::try_parse_from(EXAMPLE_ARGS)
        .unwrap()
        .launch
        .dry_run_yaml()
        .unwrap();
    assert_eq!(
        serde_norway::Deserializer::from_str(&plain).count() + 2,
        docs.len()
    );
    // --tls with an existing NATS but no CA for it: a usage error saying what to pass.
    let cli = Cli::try_parse_from(EXAMPLE_ARGS.iter().chain(&[
        "--tls",
        "--nats-url",
        "tls://nats.example:4222",
    ]))
    .unwrap();
    let e = cli.launch.dry_run_yaml().unwrap_err();
    assert!(e.to_string().contains("--nats-ca FILE"), "{e}");
}
