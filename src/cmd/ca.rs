//! `authtap ca init|show|path`: create or show the proxy's root CA and how to trust it.
//! Writes to the given writer only. Must never print the private key. The CA logic itself
//! (files, permissions, minting) lives in `source::proxy::ca`.

use std::io::Write;

use anyhow::Context as _;

use crate::cli::{CaAction, CaArgs};
use crate::source::proxy::ca;

pub fn run(args: &CaArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = match &args.ca_dir {
        Some(d) => d.clone(),
        None => ca::default_dir()?,
    };
    let (cert_path, _) = ca::paths(&dir);
    match args.action {
        CaAction::Init => {
            let created = ca::init(&dir)
                .with_context(|| format!("initialising the CA in {}", dir.display()))?;
            match created {
                ca::Created::New => writeln!(out, "Created a new root CA in {}.", dir.display())?,
                ca::Created::Existing => writeln!(
                    out,
                    "A root CA already exists in {}; it was left unchanged.",
                    dir.display()
                )?,
            }
            writeln!(out)?;
            write!(out, "{}", ca::trust_instructions(&cert_path))?;
        }
        CaAction::Show => {
            let loaded = ca::load(&dir)?;
            write!(out, "{}", loaded.cert_pem)?;
            writeln!(out)?;
            write!(out, "{}", ca::trust_instructions(&cert_path))?;
        }
        CaAction::Path => {
            // Validates the key's permissions too, so scripts notice a broken CA early.
            ca::load(&dir)?;
            writeln!(out, "{}", cert_path.display())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::CaArgs;

    fn args(action: CaAction, dir: &std::path::Path) -> CaArgs {
        CaArgs {
            action,
            ca_dir: Some(dir.to_path_buf()),
        }
    }

    #[test]
    fn init_show_path_never_print_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut out = Vec::new();
        run(&args(CaAction::Init, dir.path()), &mut out).expect("init");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("Created a new root CA"));
        for needle in [
            "NODE_EXTRA_CA_CERTS",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "keytool -importcert",
            "certutil -d sql:$HOME/.pki/nssdb",
            "Firefox",
            "--cacert",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        let key = std::fs::read_to_string(dir.path().join(ca::KEY_FILE)).expect("key");
        let mut out = Vec::new();
        run(&args(CaAction::Show, dir.path()), &mut out).expect("show");
        let shown = String::from_utf8(out).expect("utf8");
        assert!(shown.contains("BEGIN CERTIFICATE"));
        assert!(!shown.contains("PRIVATE KEY"));
        let key_body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!shown.contains(key_body.get(..40).unwrap_or("x")));
        let mut out = Vec::new();
        run(&args(CaAction::Path, dir.path()), &mut out).expect("path");
        assert_eq!(
            String::from_utf8(out).expect("utf8").trim(),
            dir.path().join(ca::CERT_FILE).display().to_string()
        );
        // A second init keeps the key.
        let mut out = Vec::new();
        run(&args(CaAction::Init, dir.path()), &mut out).expect("init again");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(ca::KEY_FILE)).expect("key"),
            key
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_mode_is_0600_and_world_readable_key_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        ca::init(dir.path()).expect("init");
        let key = dir.path().join(ca::KEY_FILE);
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = ca::load(dir.path()).expect_err("must refuse");
        let msg = err.to_string();
        assert!(
            msg.contains("readable by other users") && msg.contains("chmod 600"),
            "{msg}"
        );
        let mut out = Vec::new();
        assert!(run(&args(CaAction::Show, dir.path()), &mut out).is_err());
    }

    #[test]
    fn show_without_ca_says_how_to_create_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut out = Vec::new();
        let err = run(&args(CaAction::Show, dir.path()), &mut out).expect_err("no CA");
        assert!(format!("{err:#}").contains("authtap ca init"));
    }
}
