//! `ondol backup FILE` and `ondol restore FILE --data-dir DIR`: a running
//! server's store, code and layers as one checked archive, and back into an
//! empty data dir.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::Method;

use crate::api::{ApiError, Client, DEFAULT_ENDPOINT};

#[derive(clap::Args)]
pub struct BackupArgs {
    /// Where to write the archive (a tar file).
    file: PathBuf,
    /// The management API.
    #[arg(long, env = "ONDOL_ENDPOINT", default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// An archive written by `ondol backup`.
    file: PathBuf,
    /// The data dir to restore into: it must be empty or not exist yet.
    #[arg(long)]
    data_dir: PathBuf,
}

pub async fn backup(a: BackupArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let r = Client::new(&a.endpoint)
        .raw(Method::POST, "/ondol/v1/backup", &[], Bytes::new())
        .await?;
    if !r.status.is_success() {
        bail!("backup refused: {}", ApiError::of(&r, None));
    }
    // Checked before it is kept: a cut-off archive must not pass for a backup.
    let m = ondol_store::restore::verify(&r.body[..])
        .context("the server's archive did not verify")?
        .manifest;
    let tmp = a.file.with_extension("partial");
    std::fs::write(&tmp, &r.body).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.file).with_context(|| format!("writing {}", a.file.display()))?;
    println!(
        "backed up {} functions, {} files, {} bytes to {} in {:.1?}",
        m.functions,
        m.members.len(),
        r.body.len(),
        a.file.display(),
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let f =
        std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file.display()))?;
    let dir = a.data_dir.clone();
    let r = tokio::task::spawn_blocking(move || {
        ondol_store::restore::restore(std::io::BufReader::new(f), &dir)
    })
    .await?
    .with_context(|| format!("restoring {}", a.file.display()))?;
    println!(
        "restored {} functions ({} files, {} bytes) from ondol {} into {}; start it with `ondol serve --data-dir {}`",
        r.manifest.functions,
        r.manifest.members.len(),
        r.bytes,
        r.manifest.ondol_version,
        a.data_dir.display(),
        a.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
