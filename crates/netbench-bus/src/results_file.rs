//! The results file: written in one place, atomically and durably.

use netbench_proto::{PairResult, ResultsFile, RunState};
use std::path::Path;

/// Write the file atomically and durably: a temp file in the same directory, fsynced,
/// renamed over `path`, then the directory fsynced, so that neither a reader nor a crash
/// ever sees half a file. The one writer of results files (orchestrator, local, launcher).
pub fn write(path: &Path, file: &ResultsFile) -> std::io::Result<()> {
    let body = serde_json::to_vec_pretty(file).expect("results serialize");
    write_with(path, |out| std::io::Write::write_all(out, &body))
}

/// Write through `fill` into a temp file beside `path`, fsync, rename, fsync the directory.
fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("results");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &f);
        fill(&mut out)?;
        out.flush()?;
        drop(out);
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Results on disk as they come, so a run's memory does not grow with its outputs: each
/// result is appended (already formatted as it will stand in the file) to an unnamed temp file,
/// and [`Spool::write`] streams them into the results file in plan order. Only the order
/// (16 bytes a result) stays in memory.
pub struct Spool {
    file: std::fs::File,
    end: u64,
    /// (plan order key, offset, length) of each result.
    index: Vec<(u64, u64, u32)>,
}

impl Spool {
    /// A spool in `dir` (the results file's directory: same disk, no /tmp size limit).
    pub fn new_in(dir: &Path) -> std::io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        Ok(Spool {
            file: tempfile::tempfile_in(dir)?,
            end: 0,
            index: Vec::new(),
        })
    }

    /// A spool beside the results file `path`.
    pub fn beside(path: &Path) -> std::io::Result<Spool> {
        Spool::new_in(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Append one result; `key` orders it in the file.
    pub fn push(&mut self, key: u64, r: &PairResult) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let text = serde_json::to_string_pretty(r).expect("results serialize");
        // As it stands inside `"results": [ … ]` of a pretty-printed file.
        let mut entry = String::with_capacity(text.len() + text.len() / 8);
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                entry.push('\n');
            }
            entry.push_str("    ");
            entry.push_str(line);
        }
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(entry.as_bytes())?;
        self.index.push((key, self.end, entry.len() as u32));
        self.end += entry.len() as u64;
        Ok(())
    }

    /// Write the results file (atomically, durably, as [`write`]): the spooled results in key
    /// order (stable), then the run state.
    pub fn write(&mut self, path: &Path, run: Option<&RunState>) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom, Write};
        self.index.sort_by_key(|(key, _, _)| *key);
        let index = &self.index;
        let file = &mut self.file;
        write_with(path, |out| {
            out.write_all(b"{\n  \"results\": [")?;
            let mut buf = Vec::new();
            for (i, (_, offset, len)) in index.iter().enumerate() {
                out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
                buf.resize(*len as usize, 0);
                file.seek(SeekFrom::Start(*offset))?;
                file.read_exact(&mut buf)?;
                out.write_all(&buf)?;
            }
            out.write_all(if index.is_empty() { b"]" } else { b"\n  ]" })?;
            if let Some(state) = run {
                let text = serde_json::to_string_pretty(state).expect("run state serializes");
                out.write_all(b",\n  \"run\": ")?;
                for (i, line) in text.lines().enumerate() {
                    if i > 0 {
                        out.write_all(b"\n  ")?;
                    }
                    out.write_all(line.as_bytes())?;
                }
            }
            out.write_all(b"\n}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(pair: &str) -> PairResult {
        let mut r: PairResult = serde_json::from_str(
            r#"{"output":"line 1\nline 2 \u0001","task":{"command":"iperf3","args":["-c","x"],
            "task_options":{"timeout_seconds":30},"status":0,
            "client":{"worker":"a","ip":"198.18.0.1","vm":{"hostname":"a","availability_zone":"z"},"idle":true},
            "server":{"worker":"b","ip":"198.18.0.2","vm":{"hostname":"b","availability_zone":"z"},"idle":true}},
            "run":"r1","benchmark":"iperf3-tcp","pair":"p","status_name":"ok",
            "started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:01Z","metrics":[]}"#,
        )
        .unwrap();
        r.pair = pair.into();
        r
    }

    #[test]
    fn a_spooled_file_is_the_same_bytes_in_plan_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        let rs: Vec<PairResult> = ["p0", "p1", "p2"].iter().map(|p| result(p)).collect();
        let state: RunState = serde_json::from_str(
            r#"{"run":"r1","benchmark":"iperf3-tcp","phase":"done","pairs_total":3,"pairs_done":3,
            "pairs_failed":0,"updated_at":"2026-01-01T00:00:02Z"}"#,
        )
        .unwrap();
        for run in [None, Some(&state)] {
            write(
                &a,
                &ResultsFile {
                    results: rs.clone(),
                    run: run.cloned(),
                },
            )
            .unwrap();
            let mut spool = Spool::new_in(dir.path()).unwrap();
            for (key, r) in [(2, &rs[2]), (0, &rs[0]), (1, &rs[1])] {
                spool.push(key, r).unwrap();
            }
            spool.write(&b, run).unwrap();
            assert_eq!(
                std::fs::read_to_string(&a).unwrap(),
                std::fs::read_to_string(&b).unwrap()
            );
        }
        // And with nothing in it.
        write(
            &a,
            &ResultsFile {
                results: vec![],
                run: None,
            },
        )
        .unwrap();
        Spool::new_in(dir.path()).unwrap().write(&b, None).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn results_file_is_written_whole_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("r.json");
        let file = ResultsFile {
            results: Vec::new(),
            run: None,
        };
        write(&path, &file).unwrap();
        write(&path, &file).unwrap();
        let back: ResultsFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, file);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("r.json")],
            "no temp file left"
        );
    }
}
