//! The log store against a real SQLite file.

use std::sync::Arc;
use std::time::Duration;

use ondol_core::{LogRecord, LogSink};
use ondol_telemetry::{LogQuery, LogStore, LogStoreConfig};

fn rec(f: &str, req: &str, ts_ms: i64, line: &str) -> LogRecord {
    LogRecord {
        ts_ms,
        function: f.into(),
        version: "$LATEST".into(),
        request_id: Some(Arc::from(req)),
        instance: "i1".into(),
        line: line.into(),
    }
}

fn wait_for(store: &LogStore, q: &LogQuery, n: usize) -> Vec<ondol_telemetry::LogEntry> {
    for _ in 0..200 {
        let got = store.query(q).unwrap();
        if got.len() >= n {
            return got;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    store.query(q).unwrap()
}

#[test]
fn stores_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(&dir.path().join("logs.db"), LogStoreConfig::default()).unwrap();
    let now = 1_700_000_000_000;
    store.emit(rec("a", "r1", now, "one"));
    store.emit(rec("b", "r2", now + 1, "two"));
    store.emit(rec("a", "r3", now + 2, "three"));
    let all = wait_for(&store, &LogQuery::default(), 3);
    assert_eq!(all.len(), 3);
    let a = store
        .query(&LogQuery {
            function: Some("a".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        a.iter().map(|e| e.line.as_str()).collect::<Vec<_>>(),
        ["one", "three"]
    );
    let r = store
        .query(&LogQuery {
            request_id: Some("r2".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r[0].line, "two");
    let t = store
        .query(&LogQuery {
            text: Some("HRE".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(t.len(), 1, "text matches ignoring case");
    assert_eq!(t[0].line, "three");
    let after = store
        .query(&LogQuery {
            after_seq: Some(all[1].seq),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(after.len(), 1);
    let since = store
        .query(&LogQuery {
            since_ms: Some(now + 1),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since[0].line, "three", "limit keeps the newest");
}

#[test]
fn retention_deletes_old_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let store = LogStore::open(&path, LogStoreConfig::default()).unwrap();
    store.emit(rec("a", "old", 1000, "ancient"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    store.emit(rec("a", "new", now, "fresh"));
    wait_for(&store, &LogQuery::default(), 2);
    ondol_telemetry::logs_trim_for_tests(&path, &LogStoreConfig::default());
    let left = store.query(&LogQuery::default()).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].line, "fresh");
}

#[test]
fn a_full_buffer_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        &dir.path().join("logs.db"),
        LogStoreConfig {
            buffer: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let begun = std::time::Instant::now();
    for i in 0..10_000 {
        store.emit(rec("a", "r", 1, &format!("line {i}")));
    }
    assert!(
        begun.elapsed() < Duration::from_secs(2),
        "emit never waits for the writer"
    );
    assert!(store.dropped() > 0, "a full buffer drops records");
    let all = LogQuery {
        limit: Some(20_000),
        ..Default::default()
    };
    wait_for(&store, &all, 1);
    // The writer commits every 20 ms: what it accepted is stored by now.
    std::thread::sleep(Duration::from_millis(200));
    let kept = store.query(&all).unwrap().len() as u64;
    assert_eq!(
        kept + store.dropped(),
        10_000,
        "every record is either stored or counted as dropped"
    );
}

#[test]
fn a_request_query_waits_for_the_end_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(&dir.path().join("logs.db"), LogStoreConfig::default()).unwrap();
    store.emit(rec("a", "r1", 1, "START RequestId: r1 Version: $LATEST"));
    store.emit(rec("a", "r1", 2, "hello"));
    store.emit(rec("a", "r1", 3, "END RequestId: r1"));
    // Right after emit: the writer has not committed yet, the wait covers it.
    assert!(store
        .wait_for_request("r1", Duration::from_secs(3))
        .unwrap());
    let q = LogQuery {
        request_id: Some("r1".into()),
        ..Default::default()
    };
    assert_eq!(
        store.query(&q).unwrap().len(),
        3,
        "every line, not just END"
    );
    let begun = std::time::Instant::now();
    assert!(!store
        .wait_for_request("unknown", Duration::from_millis(100))
        .unwrap());
    assert!(
        begun.elapsed() < Duration::from_secs(1),
        "the wait is bounded"
    );
}
