//! `ondol deploy --dry-run`: what a deploy of this stage would create, without
//! contacting a server: functions, routes and schedules as the manifest (written or
//! imported) resolves them.

use ondol_core::manifest::{Deployment, PayloadFormat};

/// Prints the plan of `d`.
pub fn print(d: &Deployment) {
    println!(
        "plan for {} (stage {}), from {}:",
        d.app, d.http.stage, d.file
    );
    for f in &d.functions {
        let c = &f.config;
        println!(
            "  function  {}  ({}, {} MB, {} s timeout, code {})",
            c.name,
            c.runtime,
            c.memory_mb,
            c.timeout_ms as f64 / 1000.0,
            f.code_dir.display()
        );
    }
    for r in &d.http.routes {
        let payload = match r.payload {
            PayloadFormat::V2 => "2.0",
            PayloadFormat::V1 => "1.0",
        };
        let host = r
            .host
            .as_deref()
            .map(|h| format!(" on {h}"))
            .unwrap_or_default();
        println!(
            "  route     {}{host}  →  {} (payload {payload})",
            r.key, r.function
        );
    }
    for s in &d.http.schedules {
        println!(
            "  schedule  {}  {}  →  {}",
            s.name, s.expression, s.function
        );
    }
    for l in &d.layers {
        println!("  layer     {}", l.name);
    }
    println!("nothing was deployed (--dry-run)");
}
