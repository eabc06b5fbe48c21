//! The results file: written in one place, atomically and durably.

use netbench_proto::ResultsFile;
use std::path::Path;

/// Write the file atomically and durably: a temp file in the same directory, fsynced,
/// renamed over `path`, then the directory fsynced, so that neither a reader nor a crash
/// ever sees half a file. The one writer of results files (orchestrator, local, launcher).
pub fn write(path: &Path, file: &ResultsFile) -> std::io::Result<()> {
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
    let body = serde_json::to_vec_pretty(file).expect("results serialize");
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

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
