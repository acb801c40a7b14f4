//! Upgrades and restarts without dropping a request. A serving process listens on
//! `<data dir>/control.sock` (0600, same uid only). A new process (`ondol serve
//! --takeover`, or the one SIGHUP starts) connects and receives the listening
//! sockets by name as file descriptors, with the versions that were warm; it opens
//! the store, restores and warms, then asks for the handover. The old process stops
//! accepting and holds its event workers, answers, finishes in-flight work, flushes
//! and exits (releasing the data dir lock); the new one accepts at once and starts
//! its event workers only once it holds the lock, so one process at a time
//! delivers events and fires schedules. Connections arriving in between wait in
//! the sockets' kernel backlog, which both processes share.

pub mod fds;
mod hooks;
mod new;
mod old;

use serde::{Deserialize, Serialize};

pub use hooks::{bind, dup, gated, take_over};
pub use new::{wait_for_lock, warm, Inherited};
pub use old::{reexec, Control, Handover};

/// The control socket's name in the data dir.
pub const SOCKET: &str = "control.sock";

/// What the new process says.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Ask {
    /// Send me your listeners.
    Listeners { pid: u32 },
    /// I am ready: stop accepting, I take over.
    Handover,
}

/// The old process's offer, sent with one descriptor per listener name.
#[derive(Debug, Serialize, Deserialize)]
struct Offer {
    pid: u32,
    listeners: Vec<String>,
    /// (function, version, ready instances) worth warming before taking over.
    warm: Vec<(String, String, u32)>,
}

/// The old process's answer to the handover: it accepts no more.
#[derive(Debug, Serialize, Deserialize)]
struct Stopped {
    stopped: bool,
}
