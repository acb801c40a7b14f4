//! How each runtime starts: the built-in bootstraps (embedded in the binary and
//! written under the data dir), interpreters resolved once to their real executables
//! (a pyenv shim costs ~90 ms per start), and the Lambda environment of an instance.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ondol_core::{Arn, FunctionConfig, RuntimeKind};
use parking_lot::Mutex;

const PYTHON_BOOTSTRAP: &str = include_str!("../../../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../../../runtimes/node/bootstrap.js");
/// pid 1 of each sandboxed instance (`runtimes/init/init.rs`, built by build.rs).
const INIT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ondol-init"));
/// Its name in the runtimes directory (`/var/runtime/init` in a sandbox).
pub(crate) const INIT_NAME: &str = "init";

/// A resolved interpreter: its real executable and, for Python, its module path
/// and the bootstrap precompiled for it (a script run directly is compiled on every
/// start: ~2 ms of a cold start).
#[derive(Debug, Clone)]
pub(crate) struct Interpreter {
    pub exe: String,
    pub python_path: Option<String>,
    pub bootstrap: Option<PathBuf>,
    /// Python's `sys.implementation.cache_tag` (`cpython-311`).
    pub tag: String,
}

pub(crate) struct Runtimes {
    /// `LAMBDA_RUNTIME_DIR`: holds `python/bootstrap.py` and `node/bootstrap.js`.
    pub dir: PathBuf,
    resolved: Mutex<HashMap<String, Interpreter>>,
}

/// How to start one function version, prepared once per pool.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Runtimes {
    /// Writes the embedded bootstraps and init under `data_dir/runtimes`.
    pub fn install(data_dir: &Path) -> std::io::Result<Self> {
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
            resolved: Mutex::new(HashMap::new()),
        })
    }

    /// The interpreter for a runtime family, resolved on first use and cached.
    pub async fn interpreter(
        &self,
        kind: RuntimeKind,
        runtime: &str,
    ) -> Result<Interpreter, String> {
        // Every `nodejs*` runs the one `node`; `python3.11` is `python3` when that
        // is 3.11, which was resolved at startup.
        let key = match kind {
            RuntimeKind::Node => "node".to_string(),
            _ => runtime.to_string(),
        };
        {
            let resolved = self.resolved.lock();
            if let Some(i) = resolved.get(&key) {
                return Ok(i.clone());
            }
            if kind == RuntimeKind::Python {
                let want = format!(
                    "cpython-{}",
                    runtime.trim_start_matches("python").replace('.', "")
                );
                if let Some(i) = resolved.get("python3").filter(|i| i.tag == want) {
                    return Ok(i.clone());
                }
            }
        }
        let found = match kind {
            RuntimeKind::Python => {
                // `python3.12` if installed, else whatever `python3` is.
                let mut candidates = vec![runtime.to_string()];
                candidates.push("python3".into());
                let script = "import sys,os;print(sys.executable);print(os.pathsep.join(p for p in sys.path if p));print(sys.implementation.cache_tag)";
                let mut out = None;
                for c in candidates {
                    if let Some(text) = run(&c, &["-c", script]).await {
                        let mut lines = text.lines();
                        let exe = lines.next().unwrap_or_default().to_string();
                        let path = lines.next().unwrap_or_default().to_string();
                        let tag = lines.next().unwrap_or_default().to_string();
                        if !exe.is_empty() {
                            let bootstrap = self.precompile(&exe, &tag).await;
                            out = Some(Interpreter {
                                exe,
                                python_path: Some(path),
                                bootstrap,
                                tag,
                            });
                            break;
                        }
                    }
                }
                out.ok_or("no python3 interpreter found on PATH")?
            }
            RuntimeKind::Node => {
                let exe = run("node", &["-e", "process.stdout.write(process.execPath)"])
                    .await
                    .filter(|e| !e.is_empty())
                    .ok_or("no node executable found on PATH")?;
                Interpreter {
                    exe,
                    python_path: None,
                    bootstrap: None,
                    tag: String::new(),
                }
            }
            RuntimeKind::Provided | RuntimeKind::Web => Interpreter {
                exe: String::new(),
                python_path: None,
                bootstrap: None,
                tag: String::new(),
            },
        };
        self.resolved.lock().insert(key, found.clone());
        Ok(found)
    }

    /// Compiles the Python bootstrap for one interpreter; `None` keeps the source.
    async fn precompile(&self, exe: &str, tag: &str) -> Option<PathBuf> {
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        let src = self.dir.join("python/bootstrap.py");
        let dst = self.dir.join(format!("python/bootstrap.{tag}.pyc"));
        let code =
            "import py_compile,sys;py_compile.compile(sys.argv[1],cfile=sys.argv[2],doraise=True)";
        let (s, d) = (src.display().to_string(), dst.display().to_string());
        run(exe, &["-c", code, &s, &d]).await.map(|_| dst)
    }

    /// Host paths of every interpreter resolved so far (executables and module
    /// paths): what a sandboxed instance must see.
    pub fn host_paths(&self) -> Vec<String> {
        let resolved = self.resolved.lock();
        let mut out = Vec::new();
        for i in resolved.values() {
            out.push(i.exe.clone());
            if let Some(p) = &i.python_path {
                out.extend(p.split(':').map(str::to_string));
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
        let mut env = base_env(cfg, version, code_dir, rt_dir, arn);
        let argv = match (&cfg.command, kind) {
            (Some(cmd), _) if !cmd.is_empty() => cmd.clone(),
            (_, Some(RuntimeKind::Provided)) => {
                vec![code_dir.join("bootstrap").display().to_string()]
            }
            (_, Some(k @ RuntimeKind::Python)) => {
                let i = self.interpreter(k, &cfg.runtime).await?;
                let mut path = code_dir.display().to_string();
                if let Some(p) = i.python_path.filter(|p| !p.is_empty()) {
                    path.push(':');
                    path.push_str(&p);
                }
                env.push(("PYTHONPATH".into(), path));
                env.push(("PYTHONUNBUFFERED".into(), "1".into()));
                env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
                let boot = i
                    .bootstrap
                    .and_then(|b| b.strip_prefix(&self.dir).ok().map(|b| rt_dir.join(b)))
                    .unwrap_or_else(|| rt_dir.join("python/bootstrap.py"));
                vec![i.exe, "-S".into(), "-u".into(), boot.display().to_string()]
            }
            (_, Some(k @ RuntimeKind::Node)) => {
                let i = self.interpreter(k, &cfg.runtime).await?;
                let boot = rt_dir.join("node/bootstrap.js");
                vec![i.exe, boot.display().to_string()]
            }
            _ => return Err(format!("runtime '{}' cannot be started", cfg.runtime)),
        };
        Ok(Launch { argv, env })
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
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for key in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.into(), v));
        }
    }
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

async fn run(exe: &str, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
