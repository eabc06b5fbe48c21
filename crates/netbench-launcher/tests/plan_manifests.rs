//! `launch --plan/--concurrency`: what reaches the orchestrator (its args, the plan ConfigMap
//! mounted into it), and the plans refused before anything is created (exit 2).

use clap::Parser;
use netbench_launcher::cli::LaunchArgs;
use netbench_launcher::LaunchError;
use serde::Deserialize;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    launch: LaunchArgs,
}

fn dry_run(extra: &[&str]) -> Result<Vec<serde_norway::Value>, LaunchError> {
    let mut args = vec![
        "--dry-run-nodes",
        "node-1=zone-a,node-2=zone-b,node-3=zone-a",
    ];
    args.extend_from_slice(extra);
    dry_run_on(&args)
}

/// `launch --benchmark iperf3-tcp --dry-run --run 0123456789ab ARGS`.
fn dry_run_on(extra: &[&str]) -> Result<Vec<serde_norway::Value>, LaunchError> {
    let mut args = vec![
        "launch",
        "--benchmark",
        "iperf3-tcp",
        "--dry-run",
        "--run",
        "0123456789ab",
    ];
    args.extend_from_slice(extra);
    let cli = Cli::try_parse_from(args).expect("flags parse");
    let yaml = cli.launch.dry_run_yaml()?;
    Ok(serde_norway::Deserializer::from_str(&yaml)
        .map(|d| serde_norway::Value::deserialize(d).unwrap())
        .collect())
}

fn of_kind<'a>(docs: &'a [serde_norway::Value], kind: &str) -> Vec<&'a serde_norway::Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn orchestrator_args(docs: &[serde_norway::Value]) -> Vec<String> {
    let job = of_kind(docs, "Job")[0];
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

#[test]
fn the_default_mesh_passes_no_plan_flags_and_no_plan_config() {
    let docs = dry_run(&[]).unwrap();
    let args = orchestrator_args(&docs);
    assert!(
        !args.iter().any(|a| a == "--plan" || a == "--concurrency"),
        "{args:?}"
    );
    assert!(of_kind(&docs, "ConfigMap")
        .iter()
        .all(|c| c["metadata"]["name"].as_str() != Some("netbench-plan")));
}

#[test]
fn plan_seed_and_concurrency_reach_the_orchestrator() {
    let docs = dry_run(&["--plan", "sample:4", "--seed", "11", "--concurrency", "2"]).unwrap();
    let args = orchestrator_args(&docs);
    assert_eq!(after(&args, "--plan"), Some("sample:4"));
    assert_eq!(after(&args, "--seed"), Some("11"));
    assert_eq!(after(&args, "--concurrency"), Some("2"));
    // The launcher checked the deadline before making anything; the orchestrator does not
    // refuse again on the time registration took.
    assert!(args.iter().any(|a| a == "--allow-partial"));
    // Without a seed, one is drawn and passed, so the orchestrator plans the same pairs.
    let docs = dry_run(&["--plan", "sample:4"]).unwrap();
    let seed = after(&orchestrator_args(&docs), "--seed").map(str::to_string);
    assert!(seed.is_some_and(|s| s.parse::<u64>().is_ok()));
}

#[test]
fn a_pairs_file_goes_into_a_config_map_the_orchestrator_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs.csv");
    std::fs::write(&file, "# east to west\nnode-1,node-2\nnode-3,node-1\n").unwrap();
    let plan = format!("pairs:{}", file.display());
    let docs = dry_run(&["--plan", &plan]).unwrap();
    let args = orchestrator_args(&docs);
    assert_eq!(
        after(&args, "--plan"),
        Some("pairs:/etc/netbench/plan/pairs")
    );
    let cm = of_kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"].as_str() == Some("netbench-plan"))
        .expect("the plan ConfigMap");
    assert_eq!(
        cm["data"]["pairs"].as_str(),
        Some("node-1,node-2\nnode-3,node-1\n")
    );
    assert_eq!(
        cm["metadata"]["labels"]["netbench.io/run"].as_str(),
        Some("0123456789ab")
    );
    let pod = &of_kind(&docs, "Job")[0]["spec"]["template"]["spec"];
    let vol = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"].as_str() == Some("netbench-plan"))
        .expect("the plan volume");
    let mount = pod["containers"][0]["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"] == vol["name"])
        .expect("mounted");
    assert_eq!(mount["mountPath"].as_str(), Some("/etc/netbench/plan"));
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
}

#[test]
fn plans_that_cannot_run_are_refused_before_anything_is_made() {
    let usage = |extra: &[&str]| match dry_run(extra) {
        Err(LaunchError::Usage(why)) => why,
        Err(other) => panic!("{extra:?}: not a usage error: {other}"),
        Ok(_) => panic!("{extra:?}: accepted"),
    };
    assert!(usage(&["--plan", "star:node-9"]).contains("node-9"));
    assert!(usage(&["--plan", "sample:7"]).contains("at most 6"));
    let too_long = usage(&["--duration", "10m", "--deadline", "20m"]);
    assert!(
        too_long.contains("6 pairs") && too_long.contains("--deadline 2h"),
        "{too_long}"
    );
    // What fits with --allow-partial is rendered anyway.
    assert!(dry_run(&["--duration", "10m", "--deadline", "20m", "--allow-partial"]).is_ok());
}

/// `--paths pod,host,service,same-node --dry-run`: the objects every path needs, on three nodes.
#[test]
fn every_path_renders_its_workers_services_namespace_level_and_orchestrator_flags() {
    let docs = dry_run(&["--paths", "pod,host,service,same-node"]).unwrap();
    let ns = of_kind(&docs, "Namespace")[0];
    let psa = |mode: &str| {
        ns["metadata"]["labels"][format!("pod-security.kubernetes.io/{mode}").as_str()]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(psa("enforce").as_deref(), Some("privileged"));
    assert_eq!(psa("warn").as_deref(), Some("restricted"));
    let pods = of_kind(&docs, "Pod");
    let name = |d: &serde_norway::Value| d["metadata"]["name"].as_str().unwrap().to_string();
    let mut names: Vec<String> = pods.iter().map(|p| name(p)).collect();
    names.sort();
    let mut want = vec!["nats".to_string()];
    for n in ["node-1", "node-2", "node-3"] {
        want.extend([
            format!("worker-{n}"),
            format!("hostnet-{n}"),
            format!("worker2-{n}"),
        ]);
    }
    want.sort();
    assert_eq!(names, want);
    let host: Vec<String> = pods
        .iter()
        .filter(|p| p["spec"]["hostNetwork"].as_bool() == Some(true))
        .map(|p| name(p))
        .collect();
    assert_eq!(host, ["hostnet-node-1", "hostnet-node-2", "hostnet-node-3"]);
    // One Service per pod worker besides NATS's, each pod worker told where its IP comes from.
    let services: Vec<String> = of_kind(&docs, "Service").iter().map(|s| name(s)).collect();
    assert_eq!(services.len(), 4, "{services:?}");
    let worker1 = pods.iter().find(|p| name(p) == "worker-node-1").unwrap();
    let svc_ip = worker1["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "NETBENCH_SERVICE_IP")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        svc_ip.starts_with("set at launch: the ClusterIP of Service w-")
            && services.iter().any(|s| svc_ip.ends_with(s.as_str())),
        "{svc_ip}"
    );
    let args = orchestrator_args(&docs);
    assert_eq!(after(&args, "--paths"), Some("pod,host,service,same-node"));
    assert_eq!(after(&args, "--workers"), Some("9"));
    // The node addresses NATS admits for the host workers: those --dry-run-nodes gives.
    let policy = |docs: &[serde_norway::Value]| {
        serde_json::to_string(
            of_kind(docs, "NetworkPolicy")
                .into_iter()
                .find(|p| p["metadata"]["name"] == "netbench-nats")
                .unwrap(),
        )
        .unwrap()
    };
    assert!(!policy(&docs).contains("ipBlock"));
    let docs = dry_run_on(&[
        "--paths",
        "host",
        "--dry-run-nodes",
        "node-1=zone-a@198.18.0.1,node-2=zone-b@198.18.0.2",
    ])
    .unwrap();
    let p = policy(&docs);
    assert!(
        p.contains("\"cidr\":\"198.18.0.1/32\"") && p.contains("\"cidr\":\"198.18.0.2/32\""),
        "{p}"
    );
    assert_eq!(of_kind(&docs, "Service").len(), 1, "NATS's only");
}

/// An unknown path is refused by the flags (exit 2), with the paths there are.
#[test]
fn an_unknown_path_is_refused_before_anything_is_made() {
    let e = match Cli::try_parse_from([
        "launch",
        "--benchmark",
        "iperf3-tcp",
        "--paths",
        "pod,nodes",
    ]) {
        Err(e) => e,
        Ok(_) => panic!("--paths pod,nodes accepted"),
    };
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.contains("unknown path \"nodes\"") && msg.contains("pod, host, service and same-node"),
        "{msg}"
    );
}
