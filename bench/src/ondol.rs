//! Starting a real `ondol serve` and creating functions on it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bytes::Bytes;

use crate::client::Conn;

pub struct Server {
    child: Child,
    pub api: String,
    pub data_dir: PathBuf,
}

impl Server {
    pub fn start(bin: &Path) -> Result<Self> {
        let data_dir = std::env::temp_dir().join(format!("ondol-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--api",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(&data_dir)
            .env("ONDOL_LOG", "warn,ondol::commands::serve=info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut api = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(a) = line.split("management API listening on ").nth(1) {
                api = a.split_whitespace().next().map(str::to_string);
            }
            if line.contains("ready") {
                break;
            }
        }
        // Keep draining the server's stderr so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let Some(api) = api else {
            bail!("ondol did not start")
        };
        Ok(Self {
            child,
            api,
            data_dir,
        })
    }

    pub async fn create(
        &self,
        name: &str,
        runtime: &str,
        handler: &str,
        zip: Vec<u8>,
    ) -> Result<()> {
        let body = serde_json::json!({
            "FunctionName": name, "Runtime": runtime, "Handler": handler,
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)},
            "Ondol": {"MaxConcurrency": 64},
        });
        let mut c = Conn::open(&self.api).await?;
        let (status, _, b) = c
            .send(
                "POST",
                "/2015-03-31/functions",
                &[],
                Bytes::from(body.to_string()),
            )
            .await?;
        if status != 201 {
            bail!("create {name}: {status} {}", String::from_utf8_lossy(&b));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: let it drain and stop its instances.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Zips a directory's files (exec bits kept) plus extra entries.
pub fn zip_dir(dir: Option<&Path>, extra: &[(&str, Vec<u8>)]) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    if let Some(dir) = dir {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if e.file_type()?.is_file() {
                let mode = e.metadata()?.permissions().mode();
                let opts = zip::write::SimpleFileOptions::default().unix_permissions(mode);
                w.start_file(e.file_name().to_string_lossy(), opts)?;
                w.write_all(&std::fs::read(e.path())?)?;
            }
        }
    }
    for (name, data) in extra {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        w.start_file(*name, opts)?;
        w.write_all(data)?;
    }
    Ok(w.finish()?.into_inner())
}
