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
        "launch",
        "--benchmark",
        "iperf3-tcp",
        "--dry-run",
        "--run",
        "0123456789ab",
        "--dry-run-nodes",
        "node-1=zone-a,node-2=zone-b,node-3=zone-a",
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
