// `#/deploys`: each app stage's deploy history, newest first, the live one
// marked, and a rollback (confirmed in the page) to any earlier good deploy.
import { useState } from 'preact/hooks';
import { enc, get, post } from '../api';
import { ago, time } from '../format';
import { usePoll } from '../hooks';
import type { AppRecord, Deploy } from '../types';
import { Empty, ErrorBox, Loading, Outcome, Section } from '../components/ui';

interface RollbackAnswer {
  id: number;
  to: number;
  versions: Record<string, string>;
}

const good = (d: Deploy) => !d.outcome.startsWith('failed');

function Versions({ v }: { v: Record<string, string> }) {
  return (
    <>
      {Object.entries(v).map(([f, ver]) => (
        <span class="tag" key={f}>{f}:{ver}</span>
      ))}
    </>
  );
}

interface RowProps {
  d: Deploy;
  live: boolean;
  canRollback: boolean;
  onRollback: (d: Deploy) => void;
}

function Row({ d, live, canRollback, onRollback }: RowProps) {
  return (
    <tr data-testid="deploy-row" data-id={d.id} data-live={live ? 'true' : 'false'} class={live ? 'live' : ''}>
      <td class="num">#{d.id}</td>
      <td title={time(d.at_ms)}>{time(d.at_ms)} <span class="muted">{ago(d.at_ms)}</span></td>
      <td>{d.who}</td>
      <td><Outcome value={d.outcome} />{live && <span class="pill live" data-testid="live-marker">live</span>}</td>
      <td><Versions v={d.versions} /></td>
      <td>
        {canRollback && (
          <button class="small" data-testid="rollback-button" data-id={d.id} onClick={() => onRollback(d)}>
            Roll back to #{d.id}
          </button>
        )}
      </td>
    </tr>
  );
}

function Stage({ app, stage }: { app: string; stage: string }) {
  const hist = usePoll(
    () => get<{ deploys: Deploy[] }>(`/ondol/v1/apps/${enc(app)}/deploys?stage=${enc(stage)}`), 0, `${app}/${stage}`);
  const [asking, setAsking] = useState<Deploy>();
  const [result, setResult] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const confirm = async (d: Deploy) => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await post<RollbackAnswer>(`/ondol/v1/apps/${enc(app)}/rollback`, { stage, to: d.id });
      const vs = Object.entries(r.versions).map(([f, v]) => `${f} → ${v}`).join(', ');
      setResult(`Rolled back ${app}/${stage} to #${r.to} (new deploy #${r.id}): ${vs}`);
      hist.reload();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
      setAsking(undefined);
    }
  };

  const deploys = hist.data?.deploys ?? [];
  const liveId = deploys.find(good)?.id;
  return (
    <Section title={`${app} / ${stage}`}>
      <ErrorBox error={hist.error ?? error} />
      {result && <div class="notice" data-testid="rollback-result">{result}</div>}
      {asking && (
        <div class="confirm" data-testid="rollback-confirm">
          Roll {app}/{stage} back to deploy #{asking.id} (<Versions v={asking.versions} />)?
          <button data-testid="rollback-confirm-yes" disabled={busy} onClick={() => confirm(asking)}>Roll back</button>
          <button class="secondary" data-testid="rollback-confirm-no" disabled={busy} onClick={() => setAsking(undefined)}>Cancel</button>
        </div>
      )}
      {!hist.data && !hist.error && <Loading what="deploys" />}
      {hist.data && !deploys.length && <Empty>No deploys recorded for this stage.</Empty>}
      {deploys.length > 0 && (
        <table data-testid="deploys-table" data-app={app} data-stage={stage}>
          <thead>
            <tr><th class="num">Id</th><th>When</th><th>Who</th><th>Outcome</th><th>Versions</th><th /></tr>
          </thead>
          <tbody>
            {deploys.map((d) => (
              <Row
                key={d.id}
                d={d}
                live={d.id === liveId}
                canRollback={good(d) && liveId !== undefined && d.id < liveId}
                onRollback={(x) => {
                  setResult(undefined);
                  setAsking(x);
                }}
              />
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

export function Deploys() {
  const apps = usePoll(() => get<{ apps: AppRecord[] }>('/ondol/v1/apps'), 0);
  const list = apps.data?.apps ?? [];
  return (
    <>
      <h1>Deploys</h1>
      <ErrorBox error={apps.error} />
      {!apps.data && !apps.error && <Loading what="apps" />}
      {apps.data && !list.length && <Empty>No apps deployed yet.</Empty>}
      {list.map((a) => <Stage key={`${a.app}/${a.stage}`} app={a.app} stage={a.stage} />)}
    </>
  );
}
