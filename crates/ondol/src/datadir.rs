//! The server's hold on its host: one server per data dir (an exclusive `flock` on
//! `<data dir>/lock`, holding the owner's pid), the file-descriptor limit raised to
//! what the host allows, credentials that can actually authenticate, and where
//! `serve` keeps its data when not told.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `serve`'s data dir when neither a flag, the environment nor a config file
/// names one, and why it is that one.
pub struct DefaultDir {
    pub path: PathBuf,
    pub why: &'static str,
}

/// Absolute, so `serve` finds the same store wherever it starts: `/var/lib/ondol`
/// for root (when it exists or `/var/lib` is writable), else the user's
/// `$XDG_DATA_HOME/ondol`, else `~/.local/share/ondol`.
pub fn default_dir() -> DefaultDir {
    let system = Path::new("/var/lib/ondol");
    // SAFETY: geteuid has no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root && (system.is_dir() || writable(Path::new("/var/lib"))) {
        return DefaultDir {
            path: system.into(),
            why: "root: /var/lib/ondol",
        };
    }
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").and_then(absolute) {
        return DefaultDir {
            path: xdg.join("ondol"),
            why: "$XDG_DATA_HOME/ondol",
        };
    }
    if let Some(home) = std::env::var_os("HOME").and_then(absolute) {
        return DefaultDir {
            path: home.join(".local/share/ondol"),
            why: "~/.local/share/ondol",
        };
    }
    DefaultDir {
        path: ".ondol".into(),
        why: "no HOME: ./.ondol",
    }
}

fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access reads the NUL-terminated path we own.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// The held lock; the data dir is ours while this lives (the kernel drops the lock
/// when the process dies, however it dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data dir for this process, or says which process has it.
pub fn lock(data_dir: &Path) -> Result<DataDirLock> {
    let path = data_dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on an fd we own; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        let who = if holder.is_empty() {
            "another ondol process".to_string()
        } else {
            format!("ondol pid {holder}")
        };
        bail!(
            "the data dir {} is in use by {who}: one server per data dir. \
             Stop that server, or give this one its own --data-dir (ONDOL_DATA_DIR).",
            data_dir.display()
        );
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

/// Raises the soft open-files limit to the hard one (connections and instance
/// pipes are fds) and returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The management API's credentials, refused when either is blank: an unset shell
/// variable (`ONDOL_SECRET_ACCESS_KEY=$SECRET`) must not become a key anyone can sign with.
pub fn credentials(
    id: Option<&str>,
    secret: Option<&str>,
) -> Result<Option<ondol_api::Credentials>> {
    let (id, secret) = match (id, secret) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) => (id, secret),
        (Some(_), None) => bail!("ONDOL_ACCESS_KEY_ID is set but ONDOL_SECRET_ACCESS_KEY is not"),
        (None, Some(_)) => bail!("ONDOL_SECRET_ACCESS_KEY is set but ONDOL_ACCESS_KEY_ID is not"),
    };
    for (var, value) in [
        ("ONDOL_ACCESS_KEY_ID (--access-key-id)", id),
        ("ONDOL_SECRET_ACCESS_KEY (--secret-access-key)", secret),
    ] {
        if value.trim().is_empty() {
            bail!("{var} is empty: refusing to start with a credential anyone could sign with. Set it to a real value, or unset both to serve the API on loopback without signatures.");
        }
        if value.trim() != value || value.chars().any(|c| c.is_control()) {
            bail!("{var} has leading/trailing whitespace or control characters: no client would sign with it as written.");
        }
    }
    Ok(Some(ondol_api::Credentials {
        access_key_id: id.to_string(),
        secret_access_key: secret.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_credentials_are_refused_by_name() {
        let e = credentials(Some(""), Some("")).unwrap_err().to_string();
        assert!(e.contains("ONDOL_ACCESS_KEY_ID"), "{e}");
        let e = credentials(Some("AKID"), Some("  "))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ONDOL_SECRET_ACCESS_KEY"), "{e}");
        assert!(credentials(Some("AKID"), Some("s3cret")).unwrap().is_some());
        assert!(credentials(None, None).unwrap().is_none());
    }

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        let e = lock(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        lock(dir.path()).unwrap();
    }
}
