//! Dependency builds: a function's declared third-party packages are installed
//! with the interpreter its runtime resolves to (so wheels match its version and
//! platform) into a build directory, never the user's tree, and cached by a hash
//! of what declares them, the runtime and the exact interpreter version and the
//! platform. An unchanged redeploy finds them in the cache and installs nothing.

mod cache;
mod compile;
mod node;
mod python;
mod spec;
mod tool;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ondol_core::manifest::{Compile, DeployedFunction};
use ondol_core::runtimes::{self, Family, Interpreter};

use crate::package::{human_size, package_parts, package_under, Package, Parts};
use crate::progress::Progress;
pub use spec::Spec;

/// One function to build.
pub struct Target<'a> {
    /// How the manifest names it (`functions.api`), for errors.
    pub label: String,
    /// The Lambda function's name, for progress lines.
    pub name: &'a str,
    pub dir: &'a Path,
    pub runtime: &'a str,
    /// As written (`src/handler.main`), for `compile`.
    pub handler: &'a str,
    pub compile: Option<&'a Compile>,
    /// The manifest's `exclude` lines.
    pub exclude: &'a [String],
}

impl<'a> Target<'a> {
    /// A function of a resolved manifest.
    pub fn of(f: &'a DeployedFunction) -> Self {
        Self {
            label: format!("functions.{}", f.key),
            name: &f.config.name,
            dir: &f.code_dir,
            runtime: &f.config.runtime,
            handler: &f.config.handler,
            compile: f.compile.as_ref(),
            exclude: &f.exclude,
        }
    }
}

/// A function's installed dependencies.
pub struct Deps {
    /// The cached, compressed tree (merged into the package as it is).
    pub zip: PathBuf,
    /// What declared them (`requirements.txt`, `package-lock.json`...).
    pub declared_in: String,
    /// Installed by this build (false: found in the cache).
    pub installed: bool,
    /// Node's `node_modules` (the source tree's own is then left out).
    pub node: bool,
    pub took: Duration,
}

/// Operator mappings for this CLI (`ONDOL_RUNTIMES=python3.12=/opt/py/bin/python3`),
/// in the server's syntax.
fn overrides() -> Result<runtimes::Overrides> {
    let v = std::env::var("ONDOL_RUNTIMES").unwrap_or_default();
    runtimes::parse_overrides(&[v]).context("ONDOL_RUNTIMES")
}

/// The interpreter `t` builds (and runs) with; a web-mode function's is the
/// machine's `python3` or `node`, as the server runs its command.
fn interpreter(t: &Target<'_>, family: Family) -> Result<Interpreter> {
    if ondol_core::RuntimeKind::of(t.runtime) == Some(ondol_core::RuntimeKind::Web) {
        let exe = match family {
            Family::Python => "python3",
            Family::Node => "node",
        };
        return runtimes::discover().host_default(family).with_context(|| {
            format!(
                "{}: no {exe} on PATH to install its dependencies with",
                t.label
            )
        });
    }
    let r = runtimes::discover()
        .resolve(t.runtime, &overrides()?)
        .with_context(|| format!("{}.runtime", t.label))?;
    r.interpreter
        .with_context(|| format!("{}.runtime: {} has no interpreter", t.label, t.runtime))
}

/// Installs (or finds in the cache) `t`'s dependencies; `None` if it declares none.
pub fn dependencies(t: &Target<'_>, r: &Progress) -> Result<Option<Deps>> {
    let began = Instant::now();
    let Some((family, spec)) = declared(t)? else {
        return Ok(None);
    };
    let interp = interpreter(t, family)?;
    let entry = cache::Entry::of(&spec, t.runtime, &interp)?;
    let declared_in = spec.declared_in();
    if let Some(zip) = entry.ready() {
        return Ok(Some(Deps {
            zip,
            declared_in,
            installed: false,
            node: family == Family::Node,
            took: began.elapsed(),
        }));
    }
    r.step(format!(
        "{}: installing {declared_in} ({})",
        t.name,
        spec.tool()
    ));
    let zip = entry.fill(|site, work| {
        let ctx = tool::Context {
            target: t,
            spec: &spec,
            reporter: r,
            work,
            cache: entry.root(),
        };
        match family {
            Family::Python => python::install(&ctx, &interp, site),
            Family::Node => node::install(&ctx, &interp, site),
        }
    })?;
    Ok(Some(Deps {
        zip,
        declared_in,
        installed: true,
        node: family == Family::Node,
        took: began.elapsed(),
    }))
}

/// What `t` declares, in its language: a web-mode function's is the one whose
/// files it has (Python's first).
fn declared(t: &Target<'_>) -> Result<Option<(Family, Spec)>> {
    let families: &[Family] = match ondol_core::RuntimeKind::of(t.runtime) {
        Some(ondol_core::RuntimeKind::Python) => &[Family::Python],
        Some(ondol_core::RuntimeKind::Node) => &[Family::Node],
        Some(ondol_core::RuntimeKind::Web) => &[Family::Python, Family::Node],
        _ => &[],
    };
    for f in families {
        if let Some(spec) = Spec::detect(t.dir, *f)? {
            return Ok(Some((*f, spec)));
        }
    }
    Ok(None)
}

/// A function's package and the dependencies in it.
pub struct Built {
    pub package: Package,
    pub deps: Option<Deps>,
}

/// Builds and packages one function, with a line saying what was shipped.
pub fn package_function(t: &Target<'_>, r: &Progress) -> Result<Built> {
    r.step(format!("packaging {}", t.name));
    let compiled = t.compile.map(|c| compile::run(t, c, r)).transpose()?;
    // A bundle carries its imports: nothing to install, node_modules not shipped.
    let bundled = t.compile.is_some_and(Compile::bundles_everything);
    let deps = if bundled { None } else { dependencies(t, r)? };
    let node_built = bundled || deps.as_ref().is_some_and(|d| d.node);
    let pkg = package_parts(&Parts {
        dir: t.dir,
        compiled: compiled.as_ref().map(|c| c.dir.as_path()),
        deps_zip: deps.as_ref().map(|d| d.zip.as_path()),
        prefix: "",
        built_node_modules: node_built,
        exclude: t.exclude,
    })?;
    let size = human_size(pkg.zip.len() as u64);
    let line = match &deps {
        None => format!("{}: packaged ({size})", t.name),
        Some(d) if d.installed => format!(
            "{}: packaged ({size}; dependencies installed from {} in {:.1} s)",
            t.name,
            d.declared_in,
            d.took.as_secs_f64()
        ),
        Some(d) => format!(
            "{}: packaged ({size}; dependencies from {} unchanged, cached)",
            t.name, d.declared_in
        ),
    };
    r.done(line);
    Ok(Built { package: pkg, deps })
}

/// Builds and packages one of the app's layers: its declared dependencies are
/// installed for the first of its `compatible_runtimes` of their language and
/// placed where Lambda looks in `/opt` (`python/`, `nodejs/node_modules/`).
pub fn package_layer(
    key: &str,
    dir: &Path,
    compatible_runtimes: &[String],
    r: &Progress,
) -> Result<Package> {
    let label = format!("layers.{key}");
    let mut found = None;
    for (family, prefix) in [(Family::Python, "python/"), (Family::Node, "nodejs/")] {
        if let Some(spec) = Spec::detect(dir, family)? {
            found = Some((family, prefix, spec));
            break;
        }
    }
    let Some((family, prefix, spec)) = found else {
        return crate::package::package(dir);
    };
    let lang = match family {
        Family::Python => "python",
        Family::Node => "nodejs",
    };
    let Some(runtime) = compatible_runtimes.iter().find(|r| r.starts_with(lang)) else {
        anyhow::bail!(
            "{label}: it declares dependencies in {}, so it needs compatible_runtimes naming the {lang} runtime to install them for (e.g. compatible_runtimes = [\"{}\"])",
            spec.declared_in(),
            if family == Family::Python { "python3.11" } else { "nodejs20.x" }
        );
    };
    let t = Target {
        label,
        name: key,
        dir,
        runtime: runtime.as_str(),
        handler: "",
        compile: None,
        exclude: &[],
    };
    let deps = dependencies(&t, r)?;
    package_under(
        dir,
        deps.as_ref().map(|d| d.zip.as_path()),
        prefix,
        family == Family::Node,
    )
}
