// `#/functions/NAME`: configuration and limits, versions and aliases, recent
// invocations (each linking to its log lines) and per-minute charts. Every 5 s.
import { enc, get } from '../api';
import { ago, int, ms, time } from '../format';
import { usePoll } from '../hooks';
import type { Invocation, Minute } from '../types';
import { Chart } from '../components/Chart';
import { Empty, ErrorBox, Loading, Outcome, Section } from '../components/ui';

interface Config {
  FunctionName: string;
  Runtime?: string;
  Handler?: string;
  MemorySize?: number;
  Timeout?: number;
  EphemeralStorage?: { Size: number };
  Environment?: { Variables?: Record<string, string> };
  PackageType?: string;
  Architectures?: string[];
  CodeSize?: number;
  LastModified?: string;
  Layers?: { Arn: string }[];
}

interface FunctionAnswer {
  Configuration: Config;
  Concurrency?: { ReservedConcurrentExecutions?: number };
}

interface VersionsAnswer {
  Versions: (Config & { Version: string; Description?: string })[];
}

interface AliasesAnswer {
  Aliases: {
    Name: string;
    FunctionVersion: string;
    Description?: string;
    RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> };
  }[];
}

function ConfigTable({ f }: { f: FunctionAnswer }) {
  const c = f.Configuration;
  // Keys only: values may be secrets.
  const envKeys = Object.keys(c.Environment?.Variables ?? {}).sort();
  const rows: [string, preact.ComponentChildren][] = [
    ['Runtime', c.Runtime ?? c.PackageType ?? '–'],
    ['Handler', c.Handler ?? '–'],
    ['Memory', `${c.MemorySize ?? '–'} MB`],
    ['Timeout', `${c.Timeout ?? '–'} s`],
    ['Ephemeral storage', c.EphemeralStorage ? `${c.EphemeralStorage.Size} MB` : '–'],
    ['Reserved concurrency', f.Concurrency?.ReservedConcurrentExecutions ?? 'unreserved'],
    ['Architectures', (c.Architectures ?? []).join(', ') || '–'],
    ['Code size', c.CodeSize !== undefined ? `${int(c.CodeSize)} bytes` : '–'],
    ['Last modified', c.LastModified ?? '–'],
    ['Environment', envKeys.length ? envKeys.map((k) => <code class="tag" key={k}>{k}</code>) : 'none'],
  ];
  return (
    <table class="kv" data-testid="function-config">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}><th>{k}</th><td>{v}</td></tr>
        ))}
      </tbody>
    </table>
  );
}

function Versions({ v, a }: { v?: VersionsAnswer; a?: AliasesAnswer }) {
  return (
    <div class="two">
      <table data-testid="versions-table">
        <thead><tr><th>Version</th><th>Runtime</th><th class="num">Memory</th><th>Modified</th></tr></thead>
        <tbody>
          {(v?.Versions ?? []).map((x) => (
            <tr key={x.Version} data-testid="version-row" data-version={x.Version}>
              <td>{x.Version}</td><td>{x.Runtime ?? '–'}</td><td class="num">{x.MemorySize}</td><td>{x.LastModified}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table data-testid="aliases-table">
        <thead><tr><th>Alias</th><th>Versions and weights</th></tr></thead>
        <tbody>
          {(a?.Aliases ?? []).length === 0 && <tr><td colSpan={2} class="muted">No aliases</td></tr>}
          {(a?.Aliases ?? []).map((x) => {
            const extra = x.RoutingConfig?.AdditionalVersionWeights ?? {};
            const main = 1 - Object.values(extra).reduce((s, w) => s + w, 0);
            const weights = { [x.FunctionVersion]: main, ...extra };
            return (
              <tr key={x.Name} data-testid="alias-row" data-name={x.Name} data-version={x.FunctionVersion}>
                <td>{x.Name}</td>
                <td>
                  {Object.entries(weights).map(([ver, w]) => (
                    <span class="tag" key={ver}>v{ver} · {(w * 100).toFixed(0)} %</span>
                  ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Recent({ list }: { list: Invocation[] }) {
  if (!list.length) return <Empty>No invocations yet.</Empty>;
  return (
    <table data-testid="invocations-table">
      <thead>
        <tr><th>Time</th><th>Request id</th><th>Version</th><th>Outcome</th><th class="num">Duration</th><th class="num">Init</th></tr>
      </thead>
      <tbody>
        {list.map((i) => (
          <tr key={i.request_id} data-testid="invocation-row" data-request-id={i.request_id}>
            <td title={time(i.ts_ms, true)}>{time(i.ts_ms)} <span class="muted">{ago(i.ts_ms)}</span></td>
            <td><a href={`#/logs?request_id=${enc(i.request_id)}`} data-testid="invocation-logs-link"><code>{i.request_id}</code></a></td>
            <td>{i.version}</td>
            <td><Outcome value={i.outcome} /></td>
            <td class="num">{ms(i.duration_ms)}</td>
            <td class="num">{i.init_ms === null ? '' : ms(i.init_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Charts({ minutes }: { minutes: Minute[] }) {
  const xs = minutes.map((m) => m.ts_ms / 1000);
  return (
    <div class="two">
      <Chart
        testid="chart-duration"
        title="Duration per minute"
        xs={xs}
        unit="ms"
        series={[
          { label: 'p50', color: '#2563eb', values: minutes.map((m) => m.p50_ms) },
          { label: 'p99', color: '#dc2626', values: minutes.map((m) => m.p99_ms) },
          { label: 'init p50', color: '#d97706', values: minutes.map((m) => m.init_p50_ms) },
        ]}
      />
      <Chart
        testid="chart-invocations"
        title="Invocations and errors per minute"
        xs={xs}
        unit="count"
        series={[
          { label: 'invocations', color: '#059669', values: minutes.map((m) => m.invocations) },
          { label: 'errors', color: '#dc2626', values: minutes.map((m) => m.errors) },
          { label: 'cold starts', color: '#7c3aed', values: minutes.map((m) => m.cold_starts) },
          { label: 'throttles', color: '#6b7280', values: minutes.map((m) => m.throttles) },
        ]}
      />
    </div>
  );
}

export function FunctionPage({ name }: { name: string }) {
  const base = `/2015-03-31/functions/${enc(name)}`;
  const fn = usePoll(() => get<FunctionAnswer>(base), 5000, name);
  const versions = usePoll(() => get<VersionsAnswer>(`${base}/versions`), 5000, name);
  const aliases = usePoll(() => get<AliasesAnswer>(`${base}/aliases`), 5000, name);
  const recent = usePoll(
    () => get<{ invocations: Invocation[] }>(`/ondol/v1/functions/${enc(name)}/recent?limit=50`), 5000, name);
  const series = usePoll(
    () => get<{ minutes: Minute[] }>(`/ondol/v1/functions/${enc(name)}/series?minutes=60`), 5000, name);
  return (
    <>
      <h1>
        <a href="#/">Functions</a> / <span data-testid="function-name">{name}</span>
        <span class="h-extra"><a href={`#/logs?function=${enc(name)}`}>logs</a></span>
      </h1>
      <ErrorBox error={fn.error} />
      <div class="two">
        <Section title="Configuration">
          {fn.data ? <ConfigTable f={fn.data} /> : !fn.error && <Loading what="configuration" />}
        </Section>
        <Section title="Versions and aliases">
          <ErrorBox error={versions.error ?? aliases.error} />
          <Versions v={versions.data} a={aliases.data} />
        </Section>
      </div>
      <Section title="Last hour">
        <ErrorBox error={series.error} />
        {series.data && <Charts minutes={series.data.minutes} />}
      </Section>
      <Section title="Recent invocations">
        <ErrorBox error={recent.error} />
        {recent.data ? <Recent list={recent.data.invocations} /> : !recent.error && <Loading what="invocations" />}
      </Section>
    </>
  );
}
