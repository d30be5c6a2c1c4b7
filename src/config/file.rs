//! Reading the config file: the one place config touches the file system.

use std::path::Path;

/// A config file is small: anything larger is a wrong path, not a config.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads a regular file of at most [`MAX_CONFIG_BYTES`]: `/dev/zero` would be
/// read until memory runs out and a FIFO would block for ever.
pub(super) fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read config file: {}", io_reason(&e)))?;
    if !meta.is_file() {
        return Err("cannot read config file: not a regular file".into());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(format!(
            "cannot read config file: {} bytes is more than the {MAX_CONFIG_BYTES} a config may have",
            meta.len()
        ));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read config file: {}", io_reason(&e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read config file: {}", io_reason(&e)))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "cannot read config file: more than the {MAX_CONFIG_BYTES} bytes a config may have"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "cannot read config file: not UTF-8 text".into())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no such file (pass --config PATH or set AISBF_DOCTOR_CONFIG)".into()
        }
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use std::path::Path;

    #[test]
    fn a_config_path_that_is_not_a_small_regular_file_is_refused_without_reading_it() {
        for path in ["/dev/zero", "/"] {
            let e = load(Path::new(path)).expect_err(path);
            assert!(
                e.problem.contains("not a regular file"),
                "{path}: {}",
                e.problem
            );
        }
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let e = load(&fifo).expect_err("fifo");
            assert!(e.problem.contains("not a regular file"), "{}", e.problem);
        }
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).expect("write");
        let e = load(&big).expect_err("big");
        assert!(e.problem.contains("more than the"), "{}", e.problem);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let e = load(Path::new("/nonexistent/aisbf-doctor.toml")).expect_err("missing");
        assert_eq!(e.file, "/nonexistent/aisbf-doctor.toml");
        assert!(e.problem.contains("no such file"));
    }
}
