//! How each runtime starts: the built-in bootstraps and init (embedded in the
//! binary and written under the data dir), the interpreter of each function
//! (`interpreters.rs`), and the Lambda environment of an instance.

use std::path::{Path, PathBuf};

use ondol_core::runtimes::{Family, Overrides};
use ondol_core::{Arn, FunctionConfig, RuntimeKind};

use crate::interpreters::{Interpreter, Interpreters};

const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.js");
/// pid 1 of each sandboxed instance (`runtimes/init/init.rs`, built by build.rs).
const INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ondol-init"));
/// Its name in the runtimes directory (`/var/runtime/init` in a sandbox).
pub(crate) const INIT_NAME: &str = "init";

pub(crate) struct Runtimes {
    /// `LAMBDA_RUNTIME_DIR`: holds `python/bootstrap.py` and `node/bootstrap.js`.
    pub dir: PathBuf,
    pub interpreters: Interpreters,
}

/// How to start one function version, prepared once per pool.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// What runs it, for the INIT_START line (`python:3.11.7`).
    pub runtime_version: String,
}

impl Runtimes {
    /// Writes the embedded bootstraps and init under `data_dir/runtimes`.
    pub fn install(data_dir: &Path, overrides: Overrides) -> std::io::Result<Self> {
        let dir = data_dir.join("runtimes");
        for (sub, file, text) in [
            ("python", "bootstrap.py", PYTHON_BOOTSTRAP),
            ("node", "bootstrap.js", NODE_BOOTSTRAP),
        ] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d)?;
            let p = d.join(file);
            if std::fs::read_to_string(&p).ok().as_deref() != Some(text) {
                std::fs::write(&p, text)?;
            }
        }
        let init = dir.join(INIT_NAME);
        if std::fs::read(&init).ok().as_deref() != Some(INIT) {
            // A fresh file, renamed over: an instance may be executing the old one.
            let tmp = dir.join(".init.new");
            std::fs::write(&tmp, INIT)?;
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
            std::fs::rename(&tmp, &init)?;
        }
        Ok(Self {
            dir,
            interpreters: Interpreters::new(overrides),
        })
    }

    /// The interpreter of `cfg`'s runtime (for web and `provided`: the default of
    /// `family`).
    pub async fn interpreter(
        &self,
        cfg: &FunctionConfig,
        family: Family,
    ) -> Result<Interpreter, String> {
        self.interpreters.for_function(cfg, family, &self.dir).await
    }

    /// The interpreters an instance of `cfg` may run: its runtime's, or for web
    /// and `provided` functions the defaults of both families (those it has).
    pub async fn interpreters_of(&self, cfg: &FunctionConfig) -> Vec<Interpreter> {
        let families: &[Family] = match cfg.runtime_kind() {
            Some(RuntimeKind::Python) => &[Family::Python],
            Some(RuntimeKind::Node) => &[Family::Node],
            _ => &[Family::Python, Family::Node],
        };
        let mut out = Vec::new();
        for f in families {
            if let Ok(i) = self.interpreter(cfg, *f).await {
                out.push(i);
            }
        }
        out
    }

    /// The argv and base environment for `cfg` whose code is in `code_dir`. In a
    /// sandbox the instance sees its code at `/var/task` and the runtimes at
    /// `/var/runtime`, as in Lambda.
    pub async fn launch(
        &self,
        cfg: &FunctionConfig,
        version: &str,
        code_dir: &Path,
        arn: &Arn,
        sandboxed: bool,
    ) -> Result<Launch, String> {
        let kind = cfg.runtime_kind();
        let (code_dir, rt_dir) = if sandboxed {
            (
                Path::new(crate::jail::TASK_ROOT),
                Path::new(crate::jail::RUNTIME_DIR),
            )
        } else {
            (code_dir, self.dir.as_path())
        };
        let interpreters = self.interpreters_of(cfg).await;
        let mut env = base_env(cfg, version, code_dir, rt_dir, arn, &interpreters);
        let runtime_version = match kind {
            Some(RuntimeKind::Python | RuntimeKind::Node) => interpreters
                .first()
                .map(|i| i.version.clone())
                .unwrap_or_default(),
            Some(RuntimeKind::Provided) => cfg.runtime.replacen('.', ":", 1),
            _ => cfg.runtime.clone(),
        };
        let argv = match (&cfg.command, kind) {
            (Some(cmd), _) if !cmd.is_empty() => cmd.clone(),
            (_, Some(RuntimeKind::Provided)) => {
                vec![code_dir.join("bootstrap").display().to_string()]
            }
            (_, Some(RuntimeKind::Python)) => {
                let i = self.interpreter(cfg, Family::Python).await?;
                // Its code; the standard library is the interpreter's own (and
                // with -S, no site-packages).
                env.push(("PYTHONPATH".into(), code_dir.display().to_string()));
                env.push(("PYTHONUNBUFFERED".into(), "1".into()));
                env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
                let boot = i
                    .bootstrap
                    .and_then(|b| b.strip_prefix(&self.dir).ok().map(|b| rt_dir.join(b)))
                    .unwrap_or_else(|| rt_dir.join("python/bootstrap.py"));
                vec![i.exe, "-S".into(), "-u".into(), boot.display().to_string()]
            }
            (_, Some(RuntimeKind::Node)) => {
                let i = self.interpreter(cfg, Family::Node).await?;
                let boot = rt_dir.join("node/bootstrap.js");
                vec![i.exe, boot.display().to_string()]
            }
            _ => return Err(format!("runtime '{}' cannot be started", cfg.runtime)),
        };
        Ok(Launch {
            argv,
            env,
            runtime_version,
        })
    }
}

/// The Lambda environment (LAMBDA-COMPAT §1) common to every instance of a version;
/// the API address, log stream and init type are added per instance.
fn base_env(
    cfg: &FunctionConfig,
    version: &str,
    code_dir: &Path,
    runtime_dir: &Path,
    arn: &Arn,
    interpreters: &[Interpreter],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    if let Ok(v) = std::env::var("HOME") {
        env.push(("HOME".into(), v));
    }
    // Lambda's PATH, with the function's own interpreter first (not the server's
    // PATH: its shims and tools are not the function's).
    let mut path: Vec<String> = interpreters
        .iter()
        .filter_map(|i| Path::new(&i.exe).parent().map(|d| d.display().to_string()))
        .collect();
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
    path.dedup();
    env.push(("PATH".into(), path.join(":")));
    env.extend(cfg.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    let fixed = [
        ("_HANDLER", cfg.handler.clone()),
        ("LAMBDA_TASK_ROOT", code_dir.display().to_string()),
        ("LAMBDA_RUNTIME_DIR", runtime_dir.display().to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", cfg.name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", cfg.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", version.to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", cfg.name),
        ),
        ("AWS_REGION", arn.region.clone()),
        ("AWS_DEFAULT_REGION", arn.region.clone()),
        ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", cfg.runtime)),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
    ];
    env.retain(|(k, _)| !fixed.iter().any(|(f, _)| f == k));
    env.extend(fixed.into_iter().map(|(k, v)| (k.to_string(), v)));
    env
}
