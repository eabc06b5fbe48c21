//! The parsers against real outputs captured from the tools (see `tests/fixtures/PROVENANCE.txt`
//! and `tests/fixtures/fortio/PROVENANCE.txt`). Every expected value below was read by hand from
//! the fixture file named in the test.

use netbench_bench::{find, measure, render, Benchmark, ParseError, Role, CATALOGUE};
use netbench_proto::{Captured, ProcessOutcome, Status, TaskParams, Unit};
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

struct Fixture {
    stdout: String,
    stderr: String,
    exit_code: i32,
    /// The client command line, argv joined by spaces.
    cmd: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: PathBuf) -> String {
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tests/fixtures/<bench>/<case>.{stdout,stderr,exitcode,cmd}`.
fn fixture(bench: &str, case: &str) -> Fixture {
    let base = dir().join(bench);
    Fixture {
        stdout: read(base.join(format!("{case}.stdout"))),
        stderr: read(base.join(format!("{case}.stderr"))),
        exit_code: read(base.join(format!("{case}.exitcode")))
            .trim()
            .parse()
            .unwrap(),
        cmd: read(base.join(format!("{case}.cmd"))).trim().to_string(),
    }
}

/// `tests/fixtures/fortio/fortio-<case>.{json,stderr.txt,exitcode.txt,cmd.txt}`, copied verbatim
/// from the original capture (the refused run keeps only an excerpt of its 15 MB stderr).
fn fortio(case: &str) -> Fixture {
    let base = dir().join("fortio");
    let stderr = base.join(format!("fortio-{case}.stderr.txt"));
    let stderr = if stderr.exists() {
        stderr
    } else {
        base.join(format!("fortio-{case}.stderr.excerpt.txt"))
    };
    Fixture {
        stdout: read(base.join(format!("fortio-{case}.json"))),
        stderr: read(stderr),
        exit_code: read(base.join(format!("fortio-{case}.exitcode.txt")))
            .trim()
            .parse()
            .unwrap(),
        cmd: read(base.join(format!("fortio-{case}.cmd.txt")))
            .trim()
            .to_string(),
    }
}

fn outcome(f: &Fixture) -> ProcessOutcome {
    ProcessOutcome {
        exit_code: Some(f.exit_code),
        signal: None,
        timed_out: false,
        stdout: Captured {
            text: f.stdout.clone(),
            truncated: false,
        },
        stderr: Captured {
            text: f.stderr.clone(),
            truncated: false,
        },
        elapsed_seconds: 2.0,
        idle: true,
    }
}

fn bench(name: &str) -> &'static Benchmark {
    find(name).unwrap_or_else(|| panic!("{name} is not in the catalogue"))
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn assert_close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(f64::MIN_POSITIVE);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, want {want:e} (relative tolerance 1e-9)"
    );
}

/// Parse a successful fixture and check it fully: exactly the expected metrics, each defined by
/// the benchmark with the expected unit and equal to the hand-read value; then the same through
/// `measure`, which must give `Ok` with the same metrics.
fn check_ok(b: &Benchmark, f: &Fixture, want: &[(&str, Unit, f64)]) {
    assert_eq!(
        f.exit_code, 0,
        "{}: fixture is not a successful run",
        b.name
    );
    let parsed = (b.parse)(&f.stdout).unwrap_or_else(|e| panic!("{}: {e:?}", b.name));

    let mut got: HashMap<&str, f64> = HashMap::new();
    for (name, value) in &parsed {
        let def = b
            .metric(name)
            .unwrap_or_else(|| panic!("{}: parser emits {name:?}, not in the catalogue", b.name));
        assert!(
            got.insert(*name, *value).is_none(),
            "{}: {name} emitted twice",
            b.name
        );
        let (_, unit, _) = want
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("{}: unexpected metric {name} = {value}", b.name));
        assert_eq!(def.unit, *unit, "{}: unit of {name}", b.name);
    }
    for (name, _, value) in want {
        let g = got
            .get(name)
            .unwrap_or_else(|| panic!("{}: metric {name} missing; got {parsed:?}", b.name));
        assert_close(&format!("{} {name}", b.name), *g, *value);
    }

    let m = measure(b, &outcome(f));
    assert_eq!(m.status, Status::Ok, "{}: {:?}", b.name, m.error);
    assert_eq!(m.error, None);
    assert_eq!(m.metrics.len(), want.len());
    for metric in &m.metrics {
        let (_, unit, value) = want.iter().find(|(n, _, _)| *n == metric.name).unwrap();
        assert_eq!(metric.unit, *unit);
        assert_close(&metric.name, metric.value, *value);
    }
}

/// A failure fixture: the parser gives `ToolReported` with exactly the tool's words, and
/// `measure` gives `ToolFailed`, no metric, an error quoting them.
fn check_tool_reported(b: &Benchmark, f: &Fixture, words: &str) {
    match (b.parse)(&f.stdout) {
        Err(ParseError::ToolReported(msg)) => assert_eq!(msg, words, "{}", b.name),
        other => panic!("{}: want ToolReported({words:?}), got {other:?}", b.name),
    }
    check_measure_fails(b, f, words);
}

fn check_measure_fails(b: &Benchmark, f: &Fixture, words: &str) {
    let m = measure(b, &outcome(f));
    assert_eq!(m.status, Status::ToolFailed, "{}: {:?}", b.name, m.error);
    assert!(
        m.metrics.is_empty(),
        "{}: failure with metrics {:?}",
        b.name,
        m.metrics
    );
    let err = m.error.expect("a failure says why");
    assert!(
        err.contains(words),
        "{}: error {err:?} does not quote {words:?}",
        b.name
    );
    assert!(err.starts_with(b.client.program), "{err}");
}

/// The fixture's command is exactly the catalogue's client command for the capture's
/// parameters, so the fixture shows what the catalogue really runs.
fn check_cmd(b: &Benchmark, f: &Fixture) {
    let params = TaskParams {
        server_ip: "198.18.200.2".parse().unwrap(),
        duration_seconds: 2,
        parameters: Default::default(),
    };
    let (program, args) = render(b, Role::Client, &params);
    assert_eq!(f.cmd, format!("{program} {}", args.join(" ")), "{}", b.name);
}

// ---------------------------------------------------------------------------------------------
// iperf3
// ---------------------------------------------------------------------------------------------

#[test]
fn iperf3_ok() {
    let b = bench("iperf3-tcp");
    let f = fixture("iperf3-tcp", "ok");
    check_cmd(b, &f);
    // end.sum_received.bits_per_second, end.sum_sent.bits_per_second, end.sum_sent.retransmits,
    // end.streams[0].sender.mean_rtt (microseconds).
    check_ok(
        b,
        &f,
        &[
            (
                "throughput_received",
                Unit::BytesPerSecond,
                20677831364.0913 / 8.0,
            ),
            (
                "throughput_sent",
                Unit::BytesPerSecond,
                20678224198.889725 / 8.0,
            ),
            ("retransmits", Unit::Count, 254.0),
            ("rtt_mean", Unit::Seconds, 31e-6),
            // end.cpu_utilization_percent.host_total, .remote_total.
            ("cpu_client_percent", Unit::Count, 97.5762553765093),
            ("cpu_server_percent", Unit::Count, 71.06166566432654),
        ],
    );
}

#[test]
fn iperf3_refused() {
    let b = bench("iperf3-tcp");
    let f = fixture("iperf3-tcp", "refused");
    check_cmd(b, &f);
    // iperf 3.12 with -J exits 0 on a refused connection: only the "error" key tells.
    assert_eq!(f.exit_code, 0);
    assert!(f.stderr.is_empty());
    check_tool_reported(b, &f, "unable to connect to server: Connection refused");
}

// ---------------------------------------------------------------------------------------------
// netperf
// ---------------------------------------------------------------------------------------------

const NETPERF_REFUSED: &str =
    "establish control: are you sure there is a netserver listening on 198.18.200.2 at port 12865?";

#[test]
fn netperf_rr_ok() {
    let b = bench("netperf-tcp-rr");
    let f = fixture("netperf-tcp-rr", "ok");
    check_cmd(b, &f);
    // TRANSACTION_RATE=176540.053, latencies in microseconds; CPU (-c -C) in percent of all
    // CPUs, client and server on one 2-CPU VM here.
    check_ok(
        b,
        &f,
        &[
            ("transaction_rate", Unit::PerSecond, 176540.053),
            ("latency_min", Unit::Seconds, 4e-6),
            ("latency_mean", Unit::Seconds, 5.63e-6),
            ("latency_p50", Unit::Seconds, 5e-6),
            ("latency_p90", Unit::Seconds, 6e-6),
            ("latency_p99", Unit::Seconds, 11e-6),
            ("latency_max", Unit::Seconds, 8431e-6),
            ("cpu_client_system_percent", Unit::Count, 99.75),
            ("cpu_server_system_percent", Unit::Count, 99.75),
        ],
    );
}

#[test]
fn netperf_rr_refused() {
    let b = bench("netperf-tcp-rr");
    let f = fixture("netperf-tcp-rr", "refused");
    check_cmd(b, &f);
    // netperf says it on stdout and exits 255.
    assert_eq!(f.exit_code, 255);
    check_tool_reported(b, &f, NETPERF_REFUSED);
}

#[test]
fn netperf_stream_ok() {
    let b = bench("netperf-tcp-stream");
    let f = fixture("netperf-tcp-stream", "ok");
    check_cmd(b, &f);
    // THROUGHPUT=10558.86, THROUGHPUT_UNITS=10^6bits/s, CPU 100 % on both ends.
    check_ok(
        b,
        &f,
        &[
            ("throughput", Unit::BytesPerSecond, 10558.86e6 / 8.0),
            ("cpu_client_system_percent", Unit::Count, 100.0),
            ("cpu_server_system_percent", Unit::Count, 100.0),
        ],
    );
}

#[test]
fn netperf_stream_refused() {
    let b = bench("netperf-tcp-stream");
    let f = fixture("netperf-tcp-stream", "refused");
    check_cmd(b, &f);
    assert_eq!(f.exit_code, 255);
    check_tool_reported(b, &f, NETPERF_REFUSED);
}

// ---------------------------------------------------------------------------------------------
// Variants: TCP_CRR, iperf3 UDP, UDP_RR, UDP_STREAM
// ---------------------------------------------------------------------------------------------

#[test]
fn netperf_crr_ok() {
    let b = bench("netperf-tcp-crr");
    let f = fixture("netperf-tcp-crr", "ok");
    check_cmd(b, &f);
    // TRANSACTION_RATE=41890.532, latencies in microseconds (connect + request + response).
    // REMOTE_CPU_UTIL=298.73 is no share of a machine (netserver's TCP_CRR figure): left out.
    check_ok(
        b,
        &f,
        &[
            ("transaction_rate", Unit::PerSecond, 41890.532),
            ("latency_min", Unit::Seconds, 18e-6),
            ("latency_mean", Unit::Seconds, 23.82e-6),
            ("latency_p50", Unit::Seconds, 21e-6),
            ("latency_p90", Unit::Seconds, 23e-6),
            ("latency_p99", Unit::Seconds, 63e-6),
            ("latency_max", Unit::Seconds, 13153e-6),
            ("cpu_client_system_percent", Unit::Count, 100.0),
        ],
    );
}

#[test]
fn netperf_udp_rr_ok() {
    let b = bench("netperf-udp-rr");
    let f = fixture("netperf-udp-rr", "ok");
    check_cmd(b, &f);
    check_ok(
        b,
        &f,
        &[
            ("transaction_rate", Unit::PerSecond, 203341.019),
            ("latency_min", Unit::Seconds, 3e-6),
            ("latency_mean", Unit::Seconds, 4.89e-6),
            ("latency_p50", Unit::Seconds, 4e-6),
            ("latency_p90", Unit::Seconds, 5e-6),
            ("latency_p99", Unit::Seconds, 6e-6),
            ("latency_max", Unit::Seconds, 6045e-6),
            ("cpu_client_system_percent", Unit::Count, 100.0),
            ("cpu_server_system_percent", Unit::Count, 100.0),
        ],
    );
}

#[test]
fn netperf_variants_refused() {
    for name in ["netperf-tcp-crr", "netperf-udp-rr", "netperf-udp-stream"] {
        let b = bench(name);
        let f = fixture(name, "refused");
        check_cmd(b, &f);
        assert_eq!(f.exit_code, 255, "{name}");
        check_tool_reported(b, &f, NETPERF_REFUSED);
    }
}

#[test]
fn iperf3_udp_ok() {
    let b = bench("iperf3-udp");
    let f = fixture("iperf3-udp", "ok");
    check_cmd(b, &f);
    // end.sum_received: bits_per_second 872596193.16140318, jitter_ms 0.00718598113240471,
    // lost_packets 21865, packets 172602, lost_percent 12.665670327633347;
    // end.sum_sent.bits_per_second 999879044.66525424 (the 1G target).
    check_ok(
        b,
        &f,
        &[
            (
                "throughput_received",
                Unit::BytesPerSecond,
                872596193.1614032 / 8.0,
            ),
            (
                "throughput_sent",
                Unit::BytesPerSecond,
                999879044.6652542 / 8.0,
            ),
            ("loss_percent", Unit::Count, 12.665670327633347),
            ("lost_datagrams", Unit::Count, 21865.0),
            ("datagrams", Unit::Count, 172602.0),
            ("jitter", Unit::Seconds, 0.00718598113240471e-3),
            ("cpu_client_percent", Unit::Count, 55.25541455072004),
            ("cpu_server_percent", Unit::Count, 30.769330714760457),
        ],
    );
}

#[test]
fn iperf3_udp_refused() {
    let b = bench("iperf3-udp");
    let f = fixture("iperf3-udp", "refused");
    check_cmd(b, &f);
    assert_eq!(f.exit_code, 0);
    assert!(f.stderr.is_empty());
    check_tool_reported(b, &f, "unable to connect to server: Connection refused");
}

#[test]
fn iperf3_udp_parser_refuses_a_tcp_run() {
    // A TCP run has no loss or jitter: asking the UDP parser for them is an error, not a zero.
    let f = fixture("iperf3-tcp", "ok");
    match netbench_bench::parse::iperf3::parse_udp(&f.stdout) {
        Err(ParseError::Unparsable(msg)) => assert!(msg.contains("not a UDP run"), "{msg}"),
        other => panic!("want Unparsable, got {other:?}"),
    }
}

#[test]
fn netperf_udp_stream_ok() {
    let b = bench("netperf-udp-stream");
    let f = fixture("netperf-udp-stream", "ok");
    check_cmd(b, &f);
    // LOCAL_SEND_THROUGHPUT=6423.39, REMOTE_RECV_THROUGHPUT=3972.04 (10^6bits/s),
    // LOCAL_SEND_CALLS=1147111, REMOTE_RECV_CALLS=709340.
    let lost = 1147111.0 - 709340.0;
    check_ok(
        b,
        &f,
        &[
            ("throughput_received", Unit::BytesPerSecond, 3972.04e6 / 8.0),
            ("throughput_sent", Unit::BytesPerSecond, 6423.39e6 / 8.0),
            ("loss_percent", Unit::Count, 100.0 * lost / 1147111.0),
            ("lost_datagrams", Unit::Count, lost),
            ("datagrams", Unit::Count, 1147111.0),
            ("cpu_client_system_percent", Unit::Count, 70.90),
            ("cpu_server_system_percent", Unit::Count, 70.90),
        ],
    );
}

#[test]
fn netperf_udp_stream_with_nothing_sent_is_a_failure() {
    let out = "THROUGHPUT_UNITS=10^6bits/s\nLOCAL_SEND_THROUGHPUT=0.00\n\
               REMOTE_RECV_THROUGHPUT=0.00\nLOCAL_SEND_CALLS=0\nREMOTE_RECV_CALLS=0\n";
    assert!(matches!(
        netbench_bench::parse::netperf::parse_udp_stream(out),
        Err(ParseError::ToolReported(_))
    ));
}

#[test]
fn netperf_stream_units() {
    let p = netbench_bench::parse::netperf::parse_stream;
    let bytes = |units: &str| {
        p(&format!(
            "THROUGHPUT=2\nTHROUGHPUT_UNITS={units}\nLOCAL_CPU_UTIL=-1\nREMOTE_CPU_UTIL=-1\n"
        ))
        .unwrap()[0]
            .1
    };
    assert_eq!(bytes("10^0bits/s"), 0.25);
    assert_eq!(bytes("10^3bits/s"), 250.0);
    assert_eq!(bytes("10^6bits/s"), 250_000.0);
    assert_eq!(bytes("10^9bits/s"), 250_000_000.0);
    assert_eq!(bytes("Bytes/s"), 2.0);
    // netperf's K/M/G bytes are powers of 1024 (netlib.c calc_thruput).
    assert_eq!(bytes("KBytes/s"), 2048.0);
    assert_eq!(bytes("MBytes/s"), 2.0 * 1024.0 * 1024.0);
    assert_eq!(bytes("GBytes/s"), 2.0 * 1024.0 * 1024.0 * 1024.0);
    assert!(matches!(
        p("THROUGHPUT=2\nTHROUGHPUT_UNITS=Trans/s\n"),
        Err(ParseError::Unparsable(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// qperf
// ---------------------------------------------------------------------------------------------

#[test]
fn qperf_ok() {
    let b = bench("qperf-tcp");
    let f = fixture("qperf-tcp", "ok");
    check_cmd(b, &f);
    // With -ub -uu: "bw  =  19605487616 bits/sec", "latency  =  16547 ns" (one-way).
    check_ok(
        b,
        &f,
        &[
            ("throughput", Unit::BytesPerSecond, 19605487616.0 / 8.0),
            ("latency_one_way", Unit::Seconds, 16547e-9),
        ],
    );
}

#[test]
fn qperf_refused() {
    let b = bench("qperf-tcp");
    let f = fixture("qperf-tcp", "refused");
    check_cmd(b, &f);
    // "tcp_bw:" then qperf's message on stdout, exit 1, stderr empty.
    assert_eq!(f.exit_code, 1);
    assert!(f.stderr.is_empty());
    check_tool_reported(b, &f, "198.18.200.2: failed to connect");
}

#[test]
fn qperf_server_side_failure_is_quoted_from_stderr() {
    let b = bench("qperf-tcp");
    let f = fixture("qperf-tcp", "data-port-busy");
    check_cmd(b, &f);
    // The server's error reaches the client on stderr; stdout has only the header.
    assert_eq!(f.stdout.trim(), "tcp_bw:");
    assert!(matches!(
        (b.parse)(&f.stdout),
        Err(ParseError::Unparsable(_))
    ));
    check_measure_fails(b, &f, "server: unable to make TCP socket");
}

#[test]
fn qperf_scaled_units() {
    // What qperf prints without -uu (and without -ub): scaled, possibly with commas.
    let p = netbench_bench::parse::qperf::parse;
    let got = p("tcp_bw:\n    bw  =  19.3 Gb/sec\ntcp_lat:\n    latency  =  15.7 us\n").unwrap();
    assert_close("Gb/sec", got[0].1, 19.3e9 / 8.0);
    assert_close("us", got[1].1, 15.7e-6);
    let got = p("tcp_bw:\n    bw  =  1.97 GB/sec\ntcp_lat:\n    latency  =  1,234 sec\n").unwrap();
    assert_close("GB/sec", got[0].1, 1.97e9);
    assert_close("sec with comma", got[1].1, 1234.0);
    let got = p("tcp_bw:\n    bw  =  1682440192 bytes/sec\ntcp_lat:\n    latency  =  18707 ns\n")
        .unwrap();
    assert_close("bytes/sec", got[0].1, 1682440192.0);
    assert_close("ns", got[1].1, 18707e-9);
    // -v adds lines, some without a unit; they are ignored.
    let verbose = "tcp_bw:\n    bw              =  20160970752 bits/sec\n    msg_rate        =        38454 /sec\n    port            =        19766 \n    time            =   1000000000 ns\ntcp_lat:\n    latency        =       12334 ns\n    port           =       19766 \n";
    let got = p(verbose).unwrap();
    assert_close("verbose bw", got[0].1, 20160970752.0 / 8.0);
    assert_close("verbose latency", got[1].1, 12334e-9);
}

#[test]
fn qperf_error_after_a_result_is_a_failure() {
    let p = netbench_bench::parse::qperf::parse;
    let out = "tcp_bw:\n    bw  =  19605487616 bits/sec\ntcp_lat:\nfailed to receive tcp_lat results: timed out\n";
    assert_eq!(
        p(out),
        Err(ParseError::ToolReported(
            "failed to receive tcp_lat results: timed out".into()
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// fortio
// ---------------------------------------------------------------------------------------------

fn fortio_metrics(
    qps: f64,
    requests: f64,
    errors: f64,
    avg: f64,
    p: [f64; 4],
) -> Vec<(&'static str, Unit, f64)> {
    vec![
        ("request_rate", Unit::PerSecond, qps),
        ("requests", Unit::Count, requests),
        ("errors", Unit::Count, errors),
        ("latency_mean", Unit::Seconds, avg),
        ("latency_p50", Unit::Seconds, p[0]),
        ("latency_p90", Unit::Seconds, p[1]),
        ("latency_p99", Unit::Seconds, p[2]),
        ("latency_p999", Unit::Seconds, p[3]),
    ]
}

#[test]
fn fortio_tcp() {
    let f = fortio("tcp");
    check_ok(
        bench("fortio-tcp"),
        &f,
        &fortio_metrics(
            23064.444958393517,
            69197.0,
            0.0,
            0.000043013249273812966,
            [
                0.0005075208309388912,
                0.0009015952856188936,
                0.0009902620379218941,
                0.0009991287131521942,
            ],
        ),
    );
}

#[test]
fn fortio_tcp_qps100() {
    let f = fortio("tcp-qps100");
    check_ok(
        bench("fortio-tcp"),
        &f,
        &fortio_metrics(
            99.95427956314505,
            200.0,
            0.0,
            0.00015750441500000004,
            [
                0.0002648394623115578,
                0.0004462854924623116,
                0.00048711084924623114,
                0.0004911933849246231,
            ],
        ),
    );
}

#[test]
fn fortio_http() {
    let f = fortio("http");
    check_ok(
        bench("fortio-http"),
        &f,
        &fortio_metrics(
            12314.921564652319,
            36947.0,
            0.0,
            0.00008079610073889688,
            [
                0.000509927880159246,
                0.0009024530322987757,
                0.00099077119153017,
                0.0009996030074533094,
            ],
        ),
    );
}

#[test]
fn fortio_http_status_mix_counts_non_2xx_as_errors() {
    let f = fortio("http-status-mix");
    // RetCodes {"200": 7903, "429": 1248, "503": 3069}: 4317 errors of 12220 requests (which is
    // also ErrorsDurationHistogram.Count).
    assert_eq!(7903 + 1248 + 3069, 12220);
    check_ok(
        bench("fortio-http"),
        &f,
        &fortio_metrics(
            12215.250161051126,
            12220.0,
            1248.0 + 3069.0,
            0.0001633170617839605,
            [
                0.0005093051808266359,
                0.0009034738375430538,
                0.000992161785304248,
                0.0024450000000000413,
            ],
        ),
    );
}

#[test]
fn fortio_tcp_refused() {
    // fortio exits 0; every call failed with the same error.
    let f = fortio("tcp-refused");
    assert_eq!(f.exit_code, 0);
    check_tool_reported(
        bench("fortio-tcp"),
        &f,
        "no request succeeded out of 89234: dial tcp 127.0.0.1:9: connect: connection refused (89234)",
    );
}

#[test]
fn fortio_tcp_refused_n5() {
    let f = fortio("tcp-refused-n5");
    assert_eq!(f.exit_code, 0);
    check_tool_reported(
        bench("fortio-tcp"),
        &f,
        "no request succeeded out of 5: dial tcp 127.0.0.1:9: connect: connection refused (5)",
    );
}

#[test]
fn fortio_http_refused() {
    // Aborted in warm-up: exit 1, empty stdout, the reason on stderr.
    let b = bench("fortio-http");
    let f = fortio("http-refused");
    assert_eq!(f.exit_code, 1);
    assert!(f.stdout.is_empty());
    assert!(matches!(
        (b.parse)(&f.stdout),
        Err(ParseError::Unparsable(_))
    ));
    check_measure_fails(
        b,
        &f,
        "Aborting because of error -1 for http://127.0.0.1:9/ (0 bytes)",
    );
}

#[test]
fn fortio_all_http_errors_is_a_failure() {
    let p = netbench_bench::parse::fortio::parse;
    let json = r#"{"ActualQPS": 10, "DurationHistogram": {"Count": 30, "Avg": 0.001},
                   "RetCodes": {"503": 20, "-1": 10}}"#;
    assert_eq!(
        p(json),
        Err(ParseError::ToolReported(
            "no request succeeded out of 30: 503 (20), -1 (10)".into()
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// Coverage, garbage, truncation
// ---------------------------------------------------------------------------------------------

/// Every captured stdout, with the benchmark that parses it.
fn all_fixtures() -> Vec<(&'static Benchmark, String, Fixture)> {
    let mut all = Vec::new();
    for (b, case) in [
        ("iperf3-tcp", "ok"),
        ("iperf3-tcp", "refused"),
        ("netperf-tcp-rr", "ok"),
        ("netperf-tcp-rr", "refused"),
        ("netperf-tcp-stream", "ok"),
        ("netperf-tcp-stream", "refused"),
        ("qperf-tcp", "ok"),
        ("qperf-tcp", "refused"),
        ("qperf-tcp", "data-port-busy"),
        ("netperf-tcp-crr", "ok"),
        ("netperf-tcp-crr", "refused"),
        ("iperf3-udp", "ok"),
        ("iperf3-udp", "refused"),
        ("netperf-udp-rr", "ok"),
        ("netperf-udp-rr", "refused"),
        ("netperf-udp-stream", "ok"),
        ("netperf-udp-stream", "refused"),
    ] {
        all.push((bench(b), format!("{b}/{case}"), fixture(b, case)));
    }
    for (b, case) in [
        ("fortio-tcp", "tcp"),
        ("fortio-tcp", "tcp-qps100"),
        ("fortio-tcp", "tcp-refused"),
        ("fortio-tcp", "tcp-refused-n5"),
        ("fortio-http", "http"),
        ("fortio-http", "http-status-mix"),
        ("fortio-http", "http-refused"),
    ] {
        all.push((bench(b), format!("fortio/{case}"), fortio(case)));
    }
    all
}

#[test]
fn every_benchmark_has_a_real_successful_fixture() {
    let all = all_fixtures();
    for b in CATALOGUE {
        assert!(
            all.iter().any(|(fb, _, f)| fb.name == b.name
                && f.exit_code == 0
                && (b.parse)(&f.stdout).is_ok()),
            "{}: no successful real output in tests/fixtures",
            b.name
        );
    }
}

#[test]
fn garbage_is_unparsable() {
    let garbage = [
        "",
        " \n\t\n",
        "hello world",
        "{",
        "}",
        "[]",
        "null",
        "42",
        "\"end\"",
        "{}",
        r#"{"end": 5}"#,
        r#"{"end": {}}"#,
        r#"{"end": {"sum_received": {"bits_per_second": "fast"}}}"#,
        r#"{"ActualQPS": 1, "RetCodes": {"OK": 1}}"#,
        r#"{"ActualQPS": 1, "DurationHistogram": {"Count": 1}}"#,
        r#"{"ActualQPS": 1, "DurationHistogram": {"Count": 1}, "RetCodes": {"OK": "x"}}"#,
        "<html><body>502 Bad Gateway</body></html>",
        "=\n==\n=1",
        "THROUGHPUT=abc\nTHROUGHPUT_UNITS=10^6bits/s",
        "THROUGHPUT=-1\nTHROUGHPUT_UNITS=10^6bits/s",
        "THROUGHPUT=5\nTHROUGHPUT_UNITS=furlongs/fortnight",
        "THROUGHPUT=5",
        "TRANSACTION_RATE=100\nMIN_LATENCY=-1\nMEAN_LATENCY=-1\nP50_LATENCY=-1\nP90_LATENCY=-1\nP99_LATENCY=-1\nMAX_LATENCY=-1",
        "TRANSACTION_RATE=100",
        "tcp_bw:\n    bw  =  fast bits/sec\ntcp_lat:\n    latency  =  1 ns",
        "tcp_bw:\n    bw  =  1 parsecs\ntcp_lat:\n    latency  =  1 ns",
        "tcp_bw:\n    bw  =  -1 bits/sec\ntcp_lat:\n    latency  =  1 ns",
        "tcp_bw:\n    bw  =  1e999 bits/sec\ntcp_lat:\n    latency  =  1 ns",
        "tcp_bw:\n    bw  =  1 bits/sec",
        "    bw  =  1 bits/sec\n    latency  =  1 ns",
        "\u{0}\u{1}\u{fffd}\u{10ffff}",
    ];
    for b in CATALOGUE {
        for g in garbage {
            match (b.parse)(g) {
                Err(ParseError::Unparsable(_)) => {}
                other => panic!("{}: {g:?} gave {other:?}, want Unparsable", b.name),
            }
            let f = Fixture {
                stdout: g.to_string(),
                stderr: String::new(),
                exit_code: 0,
                cmd: String::new(),
            };
            let m = measure(b, &outcome(&f));
            assert_eq!(m.status, Status::OutputUnparsable, "{}: {g:?}", b.name);
            assert!(m.metrics.is_empty());
        }
    }
}

/// Every prefix of every real output: no panic, and a cut JSON document is never parsed.
#[test]
fn truncated_outputs_never_panic_and_cut_json_is_unparsable() {
    for (b, name, f) in all_fixtures() {
        let full = f.stdout.trim_end();
        let json = full.starts_with('{');
        for (i, _) in full.char_indices() {
            let prefix = &full[..i];
            let got = (b.parse)(prefix);
            if json {
                assert!(
                    matches!(got, Err(ParseError::Unparsable(_))),
                    "{name}: first {i} bytes gave {got:?}"
                );
            }
        }
    }
}

/// Line-oriented outputs cut at a line boundary before their last line are unparsable, never a
/// partial measurement.
/// netperf's CPU figures: -1 (not measured) and anything over 100 % of the machine are left
/// out, never reported; a missing CPU line is output cut short.
#[test]
fn netperf_cpu_not_measured_or_impossible_is_left_out() {
    let b = bench("netperf-tcp-rr");
    let f = fixture("netperf-tcp-rr", "ok");
    let with = |local: &str, remote: &str| {
        f.stdout
            .replace("LOCAL_CPU_UTIL=99.75", &format!("LOCAL_CPU_UTIL={local}"))
            .replace(
                "REMOTE_CPU_UTIL=99.75",
                &format!("REMOTE_CPU_UTIL={remote}"),
            )
    };
    let names = |out: &str| -> Vec<&'static str> {
        (b.parse)(out)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    let both = names(&with("12.5", "40"));
    assert!(
        both.contains(&"cpu_client_system_percent") && both.contains(&"cpu_server_system_percent")
    );
    let unmeasured = names(&with("-1", "40"));
    assert!(
        !unmeasured.contains(&"cpu_client_system_percent"),
        "{unmeasured:?}"
    );
    assert!(unmeasured.contains(&"cpu_server_system_percent"));
    let impossible = names(&with("12.5", "298.73"));
    assert!(
        !impossible.contains(&"cpu_server_system_percent"),
        "{impossible:?}"
    );
    let cut: String = f
        .stdout
        .lines()
        .filter(|l| !l.starts_with("REMOTE_CPU_UTIL"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        matches!((b.parse)(&cut), Err(ParseError::Unparsable(m)) if m.contains("REMOTE_CPU_UTIL"))
    );
    // TCP_CRR never reports the server's CPU (netserver's figure is broken there).
    let crr = bench("netperf-tcp-crr");
    assert!(crr.metric("cpu_server_system_percent").is_none());
    assert!(crr.metric("cpu_client_system_percent").is_some());
}

#[test]
fn successful_line_outputs_cut_short_are_unparsable() {
    for (b, case) in [
        ("netperf-tcp-rr", "ok"),
        ("netperf-tcp-stream", "ok"),
        ("qperf-tcp", "ok"),
    ] {
        let f = fixture(b, case);
        let lines: Vec<&str> = f.stdout.lines().collect();
        for n in 0..lines.len() {
            let cut = lines[..n].join("\n");
            let got = (bench(b).parse)(&cut);
            assert!(
                matches!(got, Err(ParseError::Unparsable(_))),
                "{b}/{case}: first {n} lines gave {got:?}"
            );
        }
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(s in any::<String>()) {
            for b in CATALOGUE {
                let _ = (b.parse)(&s);
            }
        }

        #[test]
        fn mangled_real_outputs_never_panic(
            which in 0usize..16,
            at in any::<prop::sample::Index>(),
            len in 0usize..64,
            insert in "[ -~\n]{0,16}",
        ) {
            let all = all_fixtures();
            let (b, _, f) = &all[which % all.len()];
            let s = &f.stdout;
            let mut start = at.index(s.len() + 1);
            while !s.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + len).min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let mangled = format!("{}{insert}{}", &s[..start], &s[end..]);
            if let Ok(values) = (b.parse)(&mangled) {
                for (name, _) in values {
                    prop_assert!(b.metric(name).is_some(), "{} emitted {}", b.name, name);
                }
            }
        }
    }
}
