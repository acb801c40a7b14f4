//! Progress of a deploy or a build: a spinner with the step under way on a
//! terminal, and result lines (each with the time its step took) kept on screen, or
//! plain lines when not on a terminal; nothing at all for `--json`.

use std::io::IsTerminal;
use std::time::Instant;

/// Progress on a terminal, plain lines otherwise; each result line carries the
/// time its step took.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    step_began: std::sync::Mutex<Instant>,
    quiet: bool,
}

impl Progress {
    /// No output at all (the caller prints a result of its own).
    pub fn quiet() -> Self {
        Self {
            bar: None,
            step_began: std::sync::Mutex::new(Instant::now()),
            quiet: true,
        }
    }

    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(std::time::Duration::from_millis(80));
            b
        });
        Self {
            bar,
            step_began: std::sync::Mutex::new(Instant::now()),
            quiet: false,
        }
    }

    fn lap(&self) -> f64 {
        let mut began = self.step_began.lock().unwrap_or_else(|e| e.into_inner());
        let ms = began.elapsed().as_secs_f64() * 1000.0;
        *began = Instant::now();
        ms
    }

    /// The step now under way (shown on a terminal only).
    pub fn step(&self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }

    /// How a long step is going: the step's line updated in place on a terminal,
    /// a plain line otherwise.
    pub fn status(&self, msg: String) {
        match &self.bar {
            Some(b) => b.set_message(msg),
            None if !self.quiet => println!("{msg}"),
            None => {}
        }
    }

    /// A result line, kept on screen, with the time since the previous one.
    pub fn done(&self, msg: String) {
        let ms = self.lap();
        self.print(msg, ms);
    }

    /// A result line for a step that ran beside others, timed from `began`.
    pub fn done_since(&self, msg: String, began: Instant) {
        self.lap();
        self.print(msg, began.elapsed().as_secs_f64() * 1000.0);
    }

    fn print(&self, msg: String, ms: f64) {
        if self.quiet {
            return;
        }
        let line = format!("{msg} ({ms:.0} ms)");
        match &self.bar {
            Some(b) => b.println(line),
            None => println!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
