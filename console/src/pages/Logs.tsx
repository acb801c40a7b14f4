// `#/logs`: search the stored log lines by function, request id, text and time;
// "Follow" polls every second for lines after the last one shown. The query
// lives in the hash, so `#/logs?request_id=X` opens filtered.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, qs } from '../api';
import { logText, time } from '../format';
import { setHashQuery, usePoll } from '../hooks';
import type { LogEntry, Status } from '../types';
import { ErrorBox } from '../components/ui';

interface Query {
  function: string;
  request_id: string;
  text: string;
  /** datetime-local values (local time). */
  from: string;
  to: string;
}

interface LogsAnswer {
  entries: LogEntry[];
  dropped: number;
}

/** Lines kept on screen while following. */
const KEEP = 5000;

function fromParams(p: URLSearchParams): Query {
  const g = (k: string) => p.get(k) ?? '';
  return { function: g('function'), request_id: g('request_id'), text: g('text'), from: g('from'), to: g('to') };
}

function url(q: Query, afterSeq?: number): string {
  const t = (v: string) => (v ? new Date(v).getTime() : undefined);
  return `/ondol/v1/logs${qs({
    function: q.function,
    request_id: q.request_id,
    text: q.text,
    since_ms: t(q.from),
    until_ms: t(q.to),
    after_seq: afterSeq,
    limit: 500,
  })}`;
}

function Field(p: { label: string; children: preact.ComponentChildren }) {
  return (
    <label class="field">
      <span>{p.label}</span>
      {p.children}
    </label>
  );
}

function LogTable({ entries }: { entries: LogEntry[] }) {
  if (!entries.length) return <p class="muted empty" data-testid="logs-empty">No log lines match.</p>;
  return (
    <table class="logs" data-testid="logs-table">
      <thead>
        <tr><th>Time</th><th>Function</th><th>Ver</th><th>Request id</th><th>Line</th></tr>
      </thead>
      <tbody>
        {entries.map((e) => (
          <tr key={e.seq} data-testid="log-line" data-seq={e.seq} data-request-id={e.request_id ?? ''}>
            <td class="nowrap">{time(e.ts_ms, true)}</td>
            <td>{e.function}</td>
            <td>{e.version}</td>
            <td class="nowrap">
              {e.request_id && <a href={`#/logs?request_id=${encodeURIComponent(e.request_id)}`}><code>{e.request_id.slice(0, 8)}</code></a>}
            </td>
            <td><pre>{logText(e.line)}</pre></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** While on, polls every second for lines after `last` and hands them over. */
function useFollow(
  on: boolean,
  q: Query,
  last: { current: number },
  onLines: (more: LogEntry[], dropped: number) => void,
  onError: (e: string | undefined) => void,
) {
  const cb = useRef(onLines);
  cb.current = onLines;
  useEffect(() => {
    if (!on) return;
    let live = true;
    let timer: number | undefined;
    const tick = async () => {
      try {
        const a = await get<LogsAnswer>(url(q, last.current));
        if (!live) return;
        if (a.entries.length) last.current = a.entries[a.entries.length - 1].seq;
        cb.current(a.entries, a.dropped);
        onError(undefined);
      } catch (e) {
        if (live) onError((e as Error).message);
      }
      if (live) timer = window.setTimeout(tick, 1000);
    };
    timer = window.setTimeout(tick, 1000);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [on, q]);
}

export function Logs({ params }: { params: URLSearchParams }) {
  const [form, setForm] = useState<Query>(() => fromParams(params));
  const [shown, setShown] = useState<Query>(form);
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [dropped, setDropped] = useState(0);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [follow, setFollow] = useState(false);
  const last = useRef(0);
  const status = usePoll(() => get<Status>('/ondol/v1/status'), 0);

  const search = async (q: Query) => {
    setBusy(true);
    setShown(q);
    setHashQuery('/logs', { ...q });
    try {
      const a = await get<LogsAnswer>(url(q));
      setEntries(a.entries);
      setDropped(a.dropped);
      last.current = a.entries.length ? a.entries[a.entries.length - 1].seq : last.current;
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  // A link to another request id (same page, new hash) searches again.
  const key = params.toString();
  useEffect(() => {
    const q = fromParams(params);
    setForm(q);
    search(q);
  }, [key]);

  useFollow(follow, shown, last, (more, d) => {
    if (more.length) setEntries((old) => [...old, ...more].slice(-KEEP));
    setDropped(d);
  }, setError);

  const set = (k: keyof Query) => (e: Event) =>
    setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const names = (status.data?.functions ?? []).map((f) => f.name);
  if (form.function && !names.includes(form.function)) names.push(form.function);

  return (
    <>
      <h1>Logs</h1>
      <form
        class="toolbar"
        data-testid="logs-form"
        onSubmit={(e) => {
          e.preventDefault();
          search(form);
        }}
      >
        <Field label="Function">
          <select data-testid="logs-function" value={form.function} onChange={set('function')}>
            <option value="">all</option>
            {names.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </Field>
        <Field label="Request id">
          <input data-testid="logs-request-id" value={form.request_id} onInput={set('request_id')} size={38} />
        </Field>
        <Field label="Text">
          <input data-testid="logs-text" value={form.text} onInput={set('text')} />
        </Field>
        <Field label="From">
          <input type="datetime-local" step={1} data-testid="logs-from" value={form.from} onInput={set('from')} />
        </Field>
        <Field label="To">
          <input type="datetime-local" step={1} data-testid="logs-to" value={form.to} onInput={set('to')} />
        </Field>
        <button type="submit" data-testid="logs-search" disabled={busy}>Search</button>
        <label class="check">
          <input type="checkbox" data-testid="logs-follow" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
          Follow
        </label>
      </form>
      <ErrorBox error={error} />
      <p class="muted">
        {entries.length} line{entries.length === 1 ? '' : 's'}
        {follow && <span data-testid="following"> · following</span>}
        {dropped > 0 && <span class="bad"> · {dropped} lines dropped by the server</span>}
      </p>
      <LogTable entries={entries} />
    </>
  );
}
