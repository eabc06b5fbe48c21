//! The figures, computed from plain numbers and results files. Pure: no I/O, no clock.

use netbench_proto::PairResult;
use serde::Serialize;
use time::OffsetDateTime;

/// Median of `v` (mean of the two middle values for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// The `q`-quantile (0..=1) of `v`, nearest rank; `None` when empty.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

/// A 95 % confidence interval of the median of `v`: the 2.5 % and 97.5 % quantiles of the
/// medians of 4000 resamples with replacement (percentile bootstrap). Deterministic (a fixed
/// seed), so a report can be recomputed from its samples. `None` for fewer than 3 values.
pub fn median_ci95(v: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 3 {
        return None;
    }
    // splitmix64: enough randomness for resampling, no dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = v.len();
    let mut resample = vec![0.0; n];
    let medians: Vec<f64> = (0..4000)
        .filter_map(|_| {
            for x in resample.iter_mut() {
                *x = v[(next() % n as u64) as usize];
            }
            median(&resample)
        })
        .collect();
    Some((quantile(&medians, 0.025)?, quantile(&medians, 0.975)?))
}

/// p50, p99 and max of a sample, in the sample's unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn spread(v: &[f64]) -> Option<Spread> {
    Some(Spread {
        n: v.len(),
        p50: quantile(v, 0.5)?,
        p99: quantile(v, 0.99)?,
        max: quantile(v, 1.0)?,
    })
}

fn seconds(a: OffsetDateTime, b: OffsetDateTime) -> f64 {
    (b - a).as_seconds_f64()
}

/// Where the time of one pair went, in seconds, from its result (and the next pair's start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairCost {
    pub pair: String,
    /// The client tool's own run time (spawn to exit, on the worker).
    pub client_seconds: f64,
    /// `finished_at - started_at - client_seconds`: dispatch, server start to ready, client
    /// dispatch and reply, server stop.
    pub in_pair: f64,
    /// From this pair's start to the next pair's start, minus the client's time: `in_pair`
    /// plus storing the result with ack, the events and the run state. `None` for the last pair.
    pub cycle: Option<f64>,
}

/// The cost of every successful pair, in plan order (results sorted by `started_at`).
pub fn pair_costs(results: &[PairResult]) -> Vec<PairCost> {
    let mut rs: Vec<&PairResult> = results.iter().collect();
    rs.sort_by_key(|r| r.started_at);
    rs.iter()
        .enumerate()
        .filter(|(_, r)| r.task.status == netbench_proto::Status::Ok)
        .map(|(i, r)| PairCost {
            pair: r.pair.clone(),
            client_seconds: r.client_seconds,
            in_pair: seconds(r.started_at, r.finished_at) - r.client_seconds,
            cycle: rs
                .get(i + 1)
                .map(|next| seconds(r.started_at, next.started_at) - r.client_seconds),
        })
        .collect()
}

/// Efficiency: the clients' summed run time over a wall time.
pub fn efficiency(results: &[PairResult], wall_seconds: f64) -> Option<f64> {
    (wall_seconds > 0.0)
        .then(|| results.iter().map(|r| r.client_seconds).sum::<f64>() / wall_seconds)
}

/// From the first pair's start to the last pair's end, in seconds.
pub fn pairs_span(results: &[PairResult]) -> Option<f64> {
    let first = results.iter().map(|r| r.started_at).min()?;
    let last = results.iter().map(|r| r.finished_at).max()?;
    Some(seconds(first, last))
}

/// Rate of events at `times` (seconds, any origin): `(n - 1) / (last - first)`.
pub fn rate(times: &[f64]) -> Option<f64> {
    let (first, last) = (times.first()?, times.last()?);
    (times.len() >= 2 && last > first).then(|| (times.len() - 1) as f64 / (last - first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_proto::{Endpoint, Status, TaskOptions, TaskRecord, Vm};

    #[test]
    fn median_ci95_brackets_the_median_and_narrows_with_less_spread() {
        assert_eq!(median_ci95(&[1.0, 2.0]), None);
        assert_eq!(median_ci95(&[0.98; 10]), Some((0.98, 0.98)));
        let wide = [0.63, 0.8, 0.9, 0.95, 0.97, 1.0, 1.02, 1.1, 1.3, 1.48];
        let (lo, hi) = median_ci95(&wide).unwrap();
        let m = median(&wide).unwrap();
        assert!(lo < m && m < hi, "{lo} {m} {hi}");
        assert!(lo >= 0.63 && hi <= 1.48);
        let tight: Vec<f64> = wide.iter().map(|x| 1.0 + (x - 1.0) / 10.0).collect();
        let (tlo, thi) = median_ci95(&tight).unwrap();
        assert!(thi - tlo < (hi - lo) / 5.0, "{tlo}..{thi} vs {lo}..{hi}");
        // Deterministic: the same samples give the same interval.
        assert_eq!(median_ci95(&wide), Some((lo, hi)));
    }

    fn result(pair: &str, start_ms: i64, end_ms: i64, client: f64, status: Status) -> PairResult {
        let t0 = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let ep = Endpoint {
            worker: "w".into(),
            ip: "198.18.100.1".into(),
            vm: Vm {
                hostname: "w".into(),
                availability_zone: String::new(),
            },
            idle: true,
            id: None,
            cpus: None,
            service_ip: None,
        };
        PairResult {
            output: String::new(),
            task: TaskRecord {
                command: "true".into(),
                args: vec![],
                task_options: TaskOptions { timeout_seconds: 1 },
                status,
                client: ep.clone(),
                server: ep,
                parameters: Default::default(),
            },
            run: "r1".parse().unwrap(),
            benchmark: "b".into(),
            pair: pair.into(),
            status_name: status.name().into(),
            started_at: t0 + time::Duration::milliseconds(start_ms),
            finished_at: t0 + time::Duration::milliseconds(end_ms),
            metrics: vec![],
            error: None,
            stderr: None,
            output_truncated: false,
            client_seconds: client,
            concurrent_pairs: 1,
            plan_index: None,
            entry: 0,
            sample: 0,
            path: Default::default(),
        }
    }

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[7.0], 0.99), Some(7.0));
        assert_eq!(spread(&[]).map(|s| s.n), None);
    }

    #[test]
    fn costs_split_in_pair_and_cycle_time() {
        // Out of order on purpose: costs follow started_at.
        let rs = vec![
            result("b", 1100, 2090, 0.95, Status::Ok),
            result("a", 0, 1040, 1.0, Status::Ok),
        ];
        let c = pair_costs(&rs);
        assert_eq!(c[0].pair, "a");
        assert!((c[0].in_pair - 0.040).abs() < 1e-9, "{c:?}");
        assert!((c[0].cycle.unwrap() - 0.100).abs() < 1e-9, "{c:?}");
        assert!((c[1].in_pair - 0.040).abs() < 1e-9, "{c:?}");
        assert_eq!(c[1].cycle, None);
        assert!((pairs_span(&rs).unwrap() - 2.09).abs() < 1e-9);
        assert!((efficiency(&rs, 2.0).unwrap() - 0.975).abs() < 1e-9);
        assert_eq!(efficiency(&rs, 0.0), None);
    }

    #[test]
    fn failed_pairs_have_no_cost_but_still_bound_the_cycle() {
        let rs = vec![
            result("a", 0, 1040, 1.0, Status::Ok),
            result("b", 1100, 1200, 0.0, Status::ToolFailed),
        ];
        let c = pair_costs(&rs);
        assert_eq!(c.len(), 1);
        assert!((c[0].cycle.unwrap() - 0.100).abs() < 1e-9);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(&[1.0]), None);
        assert_eq!(rate(&[1.0, 1.0]), None);
        assert_eq!(rate(&[0.0, 0.5, 1.0]), Some(2.0));
    }
}
