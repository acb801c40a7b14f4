//! Log capture: an instance's stdout+stderr pipe split into lines, each attributed
//! to the request the instance is serving. Before END/REPORT the invoker drains the
//! pipe itself (a non-blocking read), so lines a handler wrote before responding are
//! never attributed to another request and never arrive after its REPORT.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use ondol_core::{LogRecord, LogSink};
use parking_lot::Mutex;
use tokio::io::unix::AsyncFd;

/// Lambda splits log lines at 256 KB.
const MAX_LINE: usize = 256 * 1024;
/// `X-Amz-Log-Type: Tail` returns the last 4 KB.
const TAIL_BYTES: usize = 4096;

struct State {
    buf: Vec<u8>,
    request: Option<Arc<str>>,
    tail: Option<String>,
    eof: bool,
}

pub(crate) struct Capture {
    fd: AsyncFd<OwnedFd>,
    state: Mutex<State>,
    sink: Arc<dyn LogSink>,
    function: Arc<str>,
    version: Arc<str>,
    instance: Arc<str>,
}

impl Capture {
    pub fn new(
        read_end: OwnedFd,
        sink: Arc<dyn LogSink>,
        function: Arc<str>,
        version: Arc<str>,
        instance: Arc<str>,
    ) -> std::io::Result<Arc<Self>> {
        // SAFETY: `read_end` is a pipe we own outright; it is deregistered on drop.
        let fd = unsafe { AsyncFd::register(read_end) }.map_err(std::io::Error::from)?;
        Ok(Arc::new(Self {
            fd,
            state: Mutex::new(State {
                buf: Vec::new(),
                request: None,
                tail: None,
                eof: false,
            }),
            sink,
            function,
            version,
            instance,
        }))
    }

    /// Reads until the pipe closes (all writers exited).
    pub async fn run(self: Arc<Self>) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return;
            };
            let mut st = self.state.lock();
            self.read_available(&mut st);
            if st.eof {
                return;
            }
            guard.clear_ready();
        }
    }

    /// Attributes what follows to `request`, collecting a tail when asked.
    pub fn begin(&self, request: Arc<str>, want_tail: bool) {
        let mut st = self.state.lock();
        self.read_available(&mut st);
        st.request = Some(request);
        st.tail = want_tail.then(String::new);
    }

    /// Writes a platform line in order after the function's output so far.
    pub fn platform(&self, line: String) {
        let mut st = self.state.lock();
        self.read_available(&mut st);
        self.emit(&mut st, line);
    }

    /// Writes platform lines with no output read in between (START right after
    /// `begin`, REPORT right after END).
    pub fn platform_now(&self, line: String) {
        let mut st = self.state.lock();
        self.emit(&mut st, line);
    }

    /// Writes a platform line for `request` without changing whom the function's
    /// own output is attributed to (web instances serve several requests at once).
    pub fn platform_for(&self, request: &Arc<str>, line: String) {
        let mut st = self.state.lock();
        self.read_available(&mut st);
        let current = st.request.replace(request.clone());
        self.emit(&mut st, line);
        st.request = current;
    }

    /// Writes END and REPORT for `request` after its output so far, with nothing
    /// read in between, leaving the attribution of later output as it was.
    pub fn end_request(&self, request: &Arc<str>, end: String, report: String) {
        let mut st = self.state.lock();
        self.read_available(&mut st);
        let current = st.request.replace(request.clone());
        self.emit(&mut st, end);
        self.emit(&mut st, report);
        st.request = current;
    }

    /// Writes an ondol line for `request` right after its REPORT (nothing read in
    /// between), kept out of its log tail: the tail stays Lambda's.
    pub fn after_report(&self, request: &Arc<str>, line: String) {
        let mut st = self.state.lock();
        let (current, tail) = (st.request.replace(request.clone()), st.tail.take());
        self.emit(&mut st, line);
        st.request = current;
        st.tail = tail;
    }

    /// Reads whatever output is pending now.
    pub fn drain(&self) {
        let mut st = self.state.lock();
        self.read_available(&mut st);
    }

    /// Returns the request's last 4 KB of log if collected (call after END/REPORT).
    pub fn finish(&self) -> Option<String> {
        let tail = self.state.lock().tail.take()?;
        let start = tail.len().saturating_sub(TAIL_BYTES);
        let start = (start..tail.len())
            .find(|&i| tail.is_char_boundary(i))
            .unwrap_or(tail.len());
        Some(tail[start..].to_string())
    }

    fn read_available(&self, st: &mut State) {
        let mut chunk = [0u8; 16 * 1024];
        while !st.eof {
            // SAFETY: reading into a stack buffer we own from an fd we own.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    chunk.as_mut_ptr().cast(),
                    chunk.len(),
                )
            };
            match n {
                0 => st.eof = true,
                n if n > 0 => st.buf.extend_from_slice(&chunk[..n as usize]),
                _ => {
                    let err = std::io::Error::last_os_error();
                    if err.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    if err.kind() != std::io::ErrorKind::WouldBlock {
                        st.eof = true;
                    }
                    break;
                }
            }
        }
        self.split_lines(st);
    }

    fn split_lines(&self, st: &mut State) {
        let mut start = 0;
        while let Some(pos) = st.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let line = String::from_utf8_lossy(&st.buf[start..end]).into_owned();
            start = end + 1;
            self.emit(st, line);
        }
        st.buf.drain(..start);
        if st.buf.len() >= MAX_LINE || (st.eof && !st.buf.is_empty()) {
            let line = String::from_utf8_lossy(&st.buf).into_owned();
            st.buf.clear();
            self.emit(st, line);
        }
    }

    fn emit(&self, st: &mut State, mut line: String) {
        if line.ends_with('\r') {
            line.pop();
        }
        if let Some(tail) = st.tail.as_mut() {
            tail.push_str(&line);
            tail.push('\n');
            if tail.len() > 4 * TAIL_BYTES {
                let cut = tail.len() - 2 * TAIL_BYTES;
                let cut = (cut..tail.len())
                    .find(|&i| tail.is_char_boundary(i))
                    .unwrap_or(0);
                tail.drain(..cut);
            }
        }
        self.sink.emit(LogRecord {
            ts_ms: chrono::Utc::now().timestamp_millis(),
            function: self.function.clone(),
            version: self.version.clone(),
            request_id: st.request.clone(),
            instance: self.instance.clone(),
            line,
        });
    }
}
