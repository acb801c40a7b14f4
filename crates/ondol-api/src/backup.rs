//! `POST /ondol/v1/backup`: a consistent copy of the store and the code and
//! layers it references, streamed as one tar archive while the server goes on
//! taking writes (`ondol_store::backup` makes it).

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::Api;

/// Archive bytes on their way to the client; a slow client holds back the
/// writer rather than letting the archive pile up in memory.
struct ChannelWriter(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn backup(State(api): State<Arc<Api>>) -> Response {
    let (tx, rx) = mpsc::channel(16);
    let (db, blobs, scratch) = (api.db_path.clone(), api.blobs.clone(), api.data_dir.clone());
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let out = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx.clone()));
        match ondol_store::backup::write_archive(&db, &blobs, &scratch, out) {
            Ok(m) => tracing::info!(
                functions = m.functions, members = m.members.len(),
                elapsed = ?started.elapsed(), "backup written"
            ),
            Err(e) => {
                tracing::error!(error = %e, "backup failed");
                // The client sees a cut-off body, never a short archive taken as whole.
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [
            ("content-type", "application/x-tar"),
            (
                "content-disposition",
                "attachment; filename=\"ondol-backup.tar\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
