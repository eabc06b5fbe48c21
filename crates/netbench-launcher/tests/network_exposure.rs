//! What a worker's fortio server exposes: the catalogue's exact server command line, run with
//! the real fortio 1.68.2 in a network namespace of its own (loopback only, nothing reaches
//! the host's network), serves the echo endpoints the benchmarks use and NOT fortio's web UI or
//! its REST API (which would let anyone who reaches a worker start load tests from it or fetch
//! URLs through it). The same command with the UI path put back shows the UI: the check can fail.
//!
//! Needs: fortio on PATH (see ../shared/bin/PROVENANCE.md), root (unshare -n), ip (iproute2).

use std::process::Command;

/// Run the fortio server with `args` in a fresh network namespace and fetch each path from
/// it with `fortio curl`; returns what each fetch printed.
fn fetch_in_netns(args: &[String], paths: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut script = format!(
        "ip link set lo up || exit 1; fortio {} >/dev/null 2>&1 & p=$!; \
         for i in $(seq 50); do fortio curl -quiet http://127.0.0.1:8080/ >/dev/null 2>&1 && break; sleep 0.1; done; ",
        quoted.join(" ")
    );
    for p in paths {
        script.push_str(&format!(
            "echo '=== {p}'; fortio curl -quiet 'http://127.0.0.1:8080{p}' 2>&1 || true; "
        ));
    }
    // The server stops with the script (and the namespace with both).
    script.push_str("kill $p; wait $p; exit 0");
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split("=== ").skip(1).map(str::to_string).collect()
}

#[test]
fn the_workers_fortio_server_has_no_web_ui_and_no_rest_api() {
    let b = netbench_bench::find("fortio-http").unwrap();
    assert_eq!(b.server.program, "fortio");
    let args: Vec<String> = b.server.args.iter().map(|a| a.to_string()).collect();
    let paths = [
        "/fortio/",
        "/fortio/browse",
        "/fortio/rest/run",
        "/echo?size=5",
    ];
    let ui = |out: &[String]| {
        out.iter()
            .any(|o| o.contains("<!DOCTYPE html") || o.contains("URL is required"))
    };

    let got = fetch_in_netns(&args, &paths);
    assert_eq!(got.len(), paths.len(), "{got:?}");
    assert!(
        !ui(&got),
        "the catalogue's fortio server shows its UI: {got:?}"
    );
    // The echo server the benchmark measures still answers (5 bytes asked, 5 sent).
    assert!(
        got[3].contains("200 OK") && got[3].contains("Content-Length: 5"),
        "{}",
        got[3]
    );

    // The same command with the UI path back: the UI (and its REST API) answer.
    let i = args.iter().position(|a| a == "-ui-path").expect("-ui-path");
    let mut with_ui = args.clone();
    with_ui[i + 1] = "/fortio/".into();
    let got = fetch_in_netns(&with_ui, &paths);
    assert!(ui(&got), "control: the UI should be there: {got:?}");
}
