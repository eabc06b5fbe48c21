//! Human output: progress lines (the end-of-run summary is `netbench_report::summary_text`).

use netbench_proto::{Event, EventKind, Metric, Status, Unit};

/// A metric value in the unit people read: Gbit/s, µs, k/s.
pub fn human(m: &Metric) -> String {
    let v = m.value;
    match m.unit {
        Unit::BytesPerSecond => {
            let bits = v * 8.0;
            if bits >= 1e9 {
                format!("{:.2} Gbit/s", bits / 1e9)
            } else {
                format!("{:.1} Mbit/s", bits / 1e6)
            }
        }
        Unit::Seconds => {
            if v < 1e-3 {
                format!("{:.1} µs", v * 1e6)
            } else {
                format!("{:.2} ms", v * 1e3)
            }
        }
        Unit::PerSecond => format!("{v:.0}/s"),
        Unit::Count => format!("{v:.0}"),
    }
}

/// One progress line for an event, or nothing for events not worth a line.
pub fn progress_line(e: &Event) -> Option<String> {
    Some(match &e.kind {
        EventKind::RunStarted {
            benchmark,
            workers_expected,
        } => {
            format!(
                "run {} started: {} on {workers_expected} workers",
                e.run,
                benchmark.replace(',', ", ")
            )
        }
        EventKind::WorkerJoined { worker, ip, .. } => format!("  worker {worker} joined ({ip})"),
        EventKind::RunPlanned { .. } => format!("  {}", netbench_proto::plan_line(&e.kind)?),
        EventKind::PairStarted { .. } => return None,
        EventKind::PairFinished {
            index,
            total,
            client,
            server,
            status,
            status_name,
            headline,
            seconds,
            left_seconds,
            path,
            ..
        } => {
            let value = match (status, headline) {
                (Status::Ok, Some(h)) => format!("{} {}", h.name, human(h)),
                _ => status_name.to_uppercase(),
            };
            let left = match left_seconds {
                Some(l) if index < total => {
                    format!(", about {} left", netbench_proto::human_seconds(*l))
                }
                _ => String::new(),
            };
            let via = if path.is_pod() {
                String::new()
            } else {
                format!(" ({path})")
            };
            format!("[{index}/{total}] {client} -> {server}{via}  {value}  ({seconds:.1}s{left})")
        }
        EventKind::RunFinished {
            pairs_total,
            pairs_failed,
        } => {
            format!("run finished: {pairs_total} pairs, {pairs_failed} failed")
        }
        EventKind::RunFailed { error } => format!("run failed: {error}"),
    })
}

/// The end-of-run summary (pairs, node×node matrix, zones, failures) of `local` and `launch`.
pub fn summary(results: &[netbench_proto::PairResult]) -> String {
    netbench_report::summary_text(&netbench_proto::ResultsFile {
        results: results.to_vec(),
        run: None,
    })
}

/// Progress of a run: on a terminal a bar (pair k/n, elapsed, ETA, last headline value), with
/// the other events printed above it; otherwise one plain line per event.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

impl Progress {
    pub fn new() -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "[{pos}/{len}] {bar:30} elapsed {elapsed}, ETA {eta}  {msg}",
                )
                .expect("valid template"),
            );
            bar
        });
        Progress { bar }
    }

    pub fn event(&mut self, e: &Event) {
        let Some(bar) = &self.bar else {
            if let Some(line) = progress_line(e) {
                println!("{line}");
            }
            return;
        };
        match &e.kind {
            EventKind::PairStarted {
                total,
                client,
                server,
                ..
            } => {
                if bar.is_hidden() {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stdout());
                }
                bar.set_length(*total as u64);
                bar.set_message(format!("{client} -> {server} …"));
            }
            EventKind::PairFinished { index, .. } => {
                bar.set_position(*index as u64);
                if let Some(line) = progress_line(e) {
                    bar.set_message(line.clone());
                    bar.println(line);
                }
            }
            _ => match progress_line(e) {
                // Before the first pair the bar is not drawn yet (and would swallow the line).
                Some(line) if bar.is_hidden() => println!("{line}"),
                Some(line) => bar.println(line),
                None => {}
            },
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
