// `#/events`: schedules (next firing, recent runs), async queues, and the dead
// letters of a function with a Replay button.
import { useState } from 'preact/hooks';
import { ApiError, enc, get, post } from '../api';
import { ago, int, time } from '../format';
import { usePoll } from '../hooks';
import type { DeadLetter, Queue, Schedule } from '../types';
import { Empty, ErrorBox, Loading, Outcome, Section } from '../components/ui';

function Schedules({ list }: { list: Schedule[] }) {
  if (!list.length) return <Empty>No schedules.</Empty>;
  return (
    <table data-testid="schedules-table">
      <thead>
        <tr><th>App / stage</th><th>Name</th><th>Function</th><th>Expression</th><th>Next</th><th>Recent runs</th></tr>
      </thead>
      <tbody>
        {list.map((s) => (
          <tr key={`${s.app}/${s.stage}/${s.name}`} data-testid="schedule-row" data-name={s.name}>
            <td>{s.app} / {s.stage}</td>
            <td>{s.name}</td>
            <td><a href={`#/functions/${enc(s.function)}`}>{s.function}</a></td>
            <td><code>{s.expression}</code>{s.timezone && <span class="muted"> {s.timezone}</span>}</td>
            <td>{s.next ? time(Date.parse(s.next)) : '–'}</td>
            <td>
              {s.runs.slice(0, 5).map((r) => (
                <div key={r.slot_ms} class="run">
                  <span class="muted">{ago(r.fired_ms)}</span> <Outcome value={r.outcome} />
                  {r.request_id && <> <a href={`#/logs?request_id=${enc(r.request_id)}`}>logs</a></>}
                </div>
              ))}
              {!s.runs.length && <span class="muted">none yet</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Queues({ list, open, onOpen }: { list: Queue[]; open?: string; onOpen: (f: string) => void }) {
  if (!list.length) return <Empty>No async queues.</Empty>;
  return (
    <table data-testid="queues-table">
      <thead>
        <tr><th>Function</th><th class="num">Depth</th><th class="num">Oldest</th><th class="num">Dead letters</th><th /></tr>
      </thead>
      <tbody>
        {list.map((q) => (
          <tr key={q.function} data-testid="queue-row" data-name={q.function}>
            <td><a href={`#/functions/${enc(q.function)}`}>{q.function}</a></td>
            <td class="num">{int(q.depth)}</td>
            <td class="num">{q.oldest_age_seconds === null ? '–' : `${int(q.oldest_age_seconds)} s`}</td>
            <td class={`num ${q.dead_letters ? 'bad' : ''}`} data-testid="dead-letter-count">{int(q.dead_letters)}</td>
            <td>
              {q.dead_letters > 0 && (
                <button class="small secondary" data-testid="show-dead-letters" disabled={open === q.function} onClick={() => onOpen(q.function)}>
                  Dead letters
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DeadLetters({ name, onReplayed }: { name: string; onReplayed: () => void }) {
  const list = usePoll(() => get<{ dead_letters: DeadLetter[] }>(`/ondol/v1/dlq/${enc(name)}`), 0, name);
  const [msg, setMsg] = useState<string>();
  const [error, setError] = useState<string>();
  const replay = async (id?: number) => {
    try {
      const r = await post<{ replayed: number }>(`/ondol/v1/dlq/${enc(name)}/replay${id === undefined ? '' : `?id=${id}`}`);
      setMsg(`Replayed ${r.replayed} dead letter${r.replayed === 1 ? '' : 's'} of ${name}.`);
      setError(undefined);
      list.reload();
      onReplayed();
    } catch (e) {
      setError((e as ApiError).message);
    }
  };
  const letters = list.data?.dead_letters ?? [];
  return (
    <Section
      title={`Dead letters of ${name}`}
      extra={letters.length > 0 && <button class="small" data-testid="replay-all" onClick={() => replay()}>Replay all</button>}
    >
      <ErrorBox error={list.error ?? error} />
      {msg && <div class="notice" data-testid="replay-result">{msg}</div>}
      {list.data && !letters.length && <Empty>No dead letters.</Empty>}
      {letters.length > 0 && (
        <table data-testid="dead-letters-table">
          <thead>
            <tr><th class="num">Id</th><th>Request id</th><th>Qualifier</th><th class="num">Attempts</th><th>Failed</th><th>Payload</th><th /></tr>
          </thead>
          <tbody>
            {letters.map((d) => (
              <tr key={d.id} data-testid="dead-letter-row" data-id={d.id} data-request-id={d.request_id}>
                <td class="num">{d.id}</td>
                <td><a href={`#/logs?request_id=${enc(d.request_id)}`}><code>{d.request_id}</code></a></td>
                <td>{d.qualifier ?? '$LATEST'}</td>
                <td class="num">{d.attempts}</td>
                <td>{time(d.failed_ms)}</td>
                <td><pre class="payload">{d.payload}</pre></td>
                <td><button class="small" data-testid="replay-button" onClick={() => replay(d.id)}>Replay</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

export function Events() {
  const schedules = usePoll(() => get<{ schedules: Schedule[] }>('/ondol/v1/schedules'), 5000);
  const queues = usePoll(() => get<{ queues: Queue[] }>('/ondol/v1/queues'), 5000);
  const [open, setOpen] = useState<string>();
  return (
    <>
      <h1>Events</h1>
      <Section title="Schedules">
        <ErrorBox error={schedules.error} />
        {schedules.data ? <Schedules list={schedules.data.schedules} /> : !schedules.error && <Loading what="schedules" />}
      </Section>
      <Section title="Async queues">
        <ErrorBox error={queues.error} />
        {queues.data ? <Queues list={queues.data.queues} open={open} onOpen={setOpen} /> : !queues.error && <Loading what="queues" />}
      </Section>
      {open && <DeadLetters name={open} onReplayed={queues.reload} />}
    </>
  );
}
