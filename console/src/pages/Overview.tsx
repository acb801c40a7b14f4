// `#/`: every function's last 5 minutes and hour, its instances and this
// month's cost; the apps' stages with their routes. Re-fetched every 2 s (the cost every 10 s).
import { get } from '../api';
import { int, ms, usd } from '../format';
import { usePoll } from '../hooks';
import type { Cost, FunctionStatus, Status, Summary } from '../types';
import { Empty, ErrorBox, Loading, Section } from '../components/ui';
import { BudgetBanner } from '../components/BudgetBanner';

function Window({ s, name, w }: { s: Summary; name: string; w: string }) {
  return (
    <>
      <td class="num" data-testid={`invocations-${w}`} data-name={name}>{int(s.invocations)}</td>
      <td class={`num ${s.errors ? 'bad' : ''}`}>{int(s.errors)}</td>
      <td class="num">{ms(s.p50_ms)}</td>
      <td class="num">{ms(s.p99_ms)}</td>
      <td class="num">{int(s.cold_starts)}</td>
      <td class={`num ${s.throttles ? 'bad' : ''}`}>{int(s.throttles)}</td>
    </>
  );
}

function FunctionRow({ f, cost }: { f: FunctionStatus; cost?: number }) {
  return (
    <tr data-testid="function-row" data-name={f.name}>
      <td><a href={`#/functions/${encodeURIComponent(f.name)}`}>{f.name}</a></td>
      <td>{f.runtime}</td>
      <td class="num">{f.memory_mb}</td>
      <Window s={f.last_5m} name={f.name} w="5m" />
      <Window s={f.last_hour} name={f.name} w="1h" />
      <td class="num">{f.instances.idle}</td>
      <td class="num">{f.instances.busy}</td>
      <td class="num">{f.instances.starting}</td>
      <td class="num">{cost === undefined ? '–' : usd(cost)}</td>
    </tr>
  );
}

/** Each bill line split by the functions' shares of its quantity. */
function costByFunction(cost: Cost): Map<string, number> {
  const measure: Record<string, (r: Cost['functions'][number]) => number> = {
    lambda_requests: (r) => r.requests,
    lambda_duration: (r) => r.gb_seconds,
    provisioned_concurrency: (r) => r.provisioned_gb_seconds,
    http_api_requests: (r) => r.http_requests,
  };
  const out = new Map<string, number>();
  for (const line of cost.month_to_date.bill.lines) {
    const m = measure[line.item];
    if (!m) continue;
    const total = cost.functions.reduce((s, r) => s + m(r), 0);
    if (total <= 0) continue;
    for (const r of cost.functions) {
      out.set(r.function, (out.get(r.function) ?? 0) + (line.usd * m(r)) / total);
    }
  }
  return out;
}

const WINDOW_HEADS: [string, string][] = [
  ['Calls', 'Invocations'], ['Err', 'Errors'], ['p50', 'Median duration'],
  ['p99', '99th percentile duration'], ['Cold', 'Cold starts'], ['Thr', 'Throttles'],
];

function Functions({ status, cost }: { status: Status; cost?: Cost }) {
  if (!status.functions.length) return <Empty>No functions yet. Deploy one with <code>ondol deploy</code>.</Empty>;
  const byFn = cost ? costByFunction(cost) : new Map<string, number>();
  return (
    <table data-testid="functions-table">
      <thead>
        <tr class="group">
          <th colSpan={3} />
          <th colSpan={6}>Last 5 minutes</th>
          <th colSpan={6}>Last hour</th>
          <th colSpan={3}>Instances</th>
          <th />
        </tr>
        <tr>
          <th>Function</th><th>Runtime</th><th class="num">MB</th>
          {WINDOW_HEADS.map(([h, t]) => <th class="num" title={t}>{h}</th>)}
          {WINDOW_HEADS.map(([h, t]) => <th class="num" title={t}>{h}</th>)}
          <th class="num">Warm</th><th class="num">Busy</th><th class="num" title="Starting">Init</th>
          <th class="num" title="Month to date, AWS-equivalent">Cost</th>
        </tr>
      </thead>
      <tbody>
        {status.functions.map((f) => <FunctionRow key={f.name} f={f} cost={byFn.get(f.name)} />)}
      </tbody>
    </table>
  );
}

function Apps({ status }: { status: Status }) {
  if (!status.apps.length) return <Empty>No apps deployed.</Empty>;
  return (
    <table data-testid="apps-table">
      <thead>
        <tr><th>App</th><th>Stage</th><th>Hosts</th><th>Route</th><th>Function</th><th>Qualifier</th></tr>
      </thead>
      <tbody>
        {status.apps.flatMap((a) =>
          (a.routes.length ? a.routes : [null]).map((r, i) => (
            <tr data-testid="route-row" data-app={a.app} data-stage={a.stage} key={`${a.app}/${a.stage}/${i}`}>
              <td>{i === 0 ? a.app : ''}</td>
              <td>{i === 0 ? a.stage : ''}</td>
              <td>{i === 0 ? a.hosts.join(', ') : ''}</td>
              <td><code>{r?.route ?? '–'}</code>{r?.host ? <span class="muted"> on {r.host}</span> : null}</td>
              <td>{r && <a href={`#/functions/${encodeURIComponent(r.function)}`}>{r.function}</a>}</td>
              <td>{r?.qualifier ?? ''}</td>
            </tr>
          )),
        )}
      </tbody>
    </table>
  );
}

export function CostSummary({ cost }: { cost: Cost }) {
  return (
    <div class="cards" data-testid="cost-summary">
      <div class="card">
        <div class="label">Month to date ({cost.month})</div>
        <div class="big" data-testid="cost-mtd">{usd(cost.month_to_date.bill.total_usd)}</div>
      </div>
      <div class="card">
        <div class="label">Projected to month end</div>
        <div class="big" data-testid="cost-projected">{usd(cost.projected.bill.total_usd)}</div>
      </div>
      {cost.month_to_date.bill.lines.map((l) => (
        <div class="card small" key={l.item}>
          <div class="label">{l.item.replace(/_/g, ' ')}</div>
          <div>{usd(l.usd)}</div>
        </div>
      ))}
    </div>
  );
}

export function Overview() {
  const status = usePoll(() => get<Status>('/ondol/v1/status'), 2000);
  // Each cost answer flushes the server's usage counters: every 10 s is plenty.
  const cost = usePoll(() => get<Cost>('/ondol/v1/cost'), 10000);
  return (
    <>
      <h1>Overview</h1>
      <BudgetBanner budgets={cost.data?.budgets} />
      <ErrorBox error={status.error} />
      <Section title="Functions">
        {status.data ? <Functions status={status.data} cost={cost.data} /> : !status.error && <Loading what="functions" />}
      </Section>
      <Section title="This month's cost" extra={<a href="#/cost">details</a>}>
        <ErrorBox error={cost.error} />
        {cost.data && <CostSummary cost={cost.data} />}
      </Section>
      <Section title="Apps and routes">
        {status.data && <Apps status={status.data} />}
      </Section>
    </>
  );
}
