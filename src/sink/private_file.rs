//! Creating output files that may hold sensitive material (`--events`, `--har-out`): on Unix
//! they are created with mode 0600, so other local users cannot read them even when secrets are
//! shown (`--include-secrets`) or a redacted value still says more than it should.
//!
//! Owns only the open flags. Must not follow the mode of an existing file blindly: an existing
//! file is truncated and its mode tightened to 0600 as well. Known limit: on non-Unix platforms
//! the platform's default permissions apply.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Create (or truncate) `path` for writing, readable and writable by the owner only (Unix).
pub fn create(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path)?;
    #[cfg(unix)]
    {
        // `mode` applies only when the file is new; tighten a pre-existing regular file too.
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata()?;
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[cfg(unix)]
    #[test]
    fn new_and_existing_files_end_up_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("events.jsonl");
        let mut f = create(&fresh).expect("create");
        f.write_all(b"x").expect("write");
        let mode = std::fs::metadata(&fresh)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let old = dir.path().join("old.har");
        std::fs::write(&old, b"previous contents").expect("write");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(create(&old).expect("create over existing"));
        let meta = std::fs::metadata(&old).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 0, "existing file is truncated");
    }
}
