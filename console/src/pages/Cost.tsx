// `#/cost`: a month's bill as AWS would price it, line by line with formulas,
// projected to month end, per function version, and the budgets.
import { useState } from 'preact/hooks';
import { get, qs } from '../api';
import { int, num, pct, usd } from '../format';
import { setHashQuery, usePoll } from '../hooks';
import type { Bill, Budget, Cost as CostAnswer } from '../types';
import { BudgetBanner } from '../components/BudgetBanner';
import { Empty, ErrorBox, Loading, Section } from '../components/ui';

function BillTable({ bill, formula, testid }: { bill: Bill; formula: string; testid: string }) {
  return (
    <table data-testid={testid}>
      <thead><tr><th>Item</th><th class="num">Quantity</th><th>Formula</th><th class="num">USD</th></tr></thead>
      <tbody>
        {bill.lines.map((l) => (
          <tr key={l.item} data-testid="cost-line" data-item={l.item}>
            <td>{l.item.replace(/_/g, ' ')}</td>
            <td class="num">{num(l.quantity, 3)}</td>
            <td><code>{l.formula}</code></td>
            <td class="num">{usd(l.usd)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr><th>Total</th><td /><td><code>{formula}</code></td><th class="num" data-testid={`${testid}-total`}>{usd(bill.total_usd)}</th></tr>
      </tfoot>
    </table>
  );
}

function Budgets({ list }: { list: Budget[] }) {
  if (!list.length) return <Empty>No budgets. Set <code>[budget]</code> in ondol.toml or a node budget.</Empty>;
  return (
    <table data-testid="budgets-table">
      <thead><tr><th>Scope</th><th class="num">Monthly</th><th class="num">Spent</th><th class="num">Used</th><th>State</th><th>Alert function</th></tr></thead>
      <tbody>
        {list.map((b) => (
          <tr key={b.scope} data-testid="budget-row" data-scope={b.scope} data-state={b.state}>
            <td>{b.scope}</td>
            <td class="num">{usd(b.monthly_usd)}</td>
            <td class="num">{usd(b.spent_usd)}</td>
            <td class="num">{pct(b.percent)}</td>
            <td><span class={`pill ${b.state === 'ok' ? 'ok' : 'bad'}`}>{b.state}</span></td>
            <td>{b.alert_function ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Report({ c }: { c: CostAnswer }) {
  return (
    <>
      <p class="muted">
        {c.region_name} ({c.region}) prices, version {c.prices.version} read on {c.prices.read_on};
        free tier {c.free_tier ? 'applied' : 'not applied'}; {pct(c.month_elapsed * 100)} of the month gone.
      </p>
      <div class="two">
        <Section title="Month to date"><BillTable bill={c.month_to_date.bill} formula={c.month_to_date.total_formula} testid="bill-mtd" /></Section>
        <Section title="Projected to month end"><BillTable bill={c.projected.bill} formula={c.projected.total_formula} testid="bill-projected" /></Section>
      </div>
      <Section title="Budgets"><Budgets list={c.budgets} /></Section>
      <Section title="Usage by function version">
        {!c.functions.length ? <Empty>No usage this month.</Empty> : (
          <table data-testid="usage-table">
            <thead><tr><th>Function</th><th>Version</th><th>Stage</th><th class="num">MB</th><th class="num">Requests</th><th class="num">GB-s</th><th class="num">Provisioned GB-s</th><th class="num">HTTP requests</th></tr></thead>
            <tbody>
              {c.functions.map((f, i) => (
                <tr key={i} data-testid="usage-row" data-name={f.function}>
                  <td>{f.function}</td><td>{f.version || '–'}</td><td>{f.stage || '–'}</td>
                  <td class="num">{f.memory_mb}</td><td class="num">{int(f.requests)}</td>
                  <td class="num">{num(f.gb_seconds, 4)}</td><td class="num">{num(f.provisioned_gb_seconds, 4)}</td>
                  <td class="num">{int(f.http_requests)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}

export function Cost({ params }: { params: URLSearchParams }) {
  const [q, setQ] = useState({ month: params.get('month') ?? '', app: params.get('app') ?? '', stage: params.get('stage') ?? '' });
  const [form, setForm] = useState(q);
  const key = `${q.month}|${q.app}|${q.stage}`;
  const cost = usePoll(() => get<CostAnswer>(`/ondol/v1/cost${qs(q)}`), 10000, key);
  const set = (k: keyof typeof q) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <>
      <h1>Cost</h1>
      <BudgetBanner budgets={cost.data?.budgets} />
      <form class="toolbar" data-testid="cost-form" onSubmit={(e) => { e.preventDefault(); setQ(form); setHashQuery('/cost', form); }}>
        <label class="field"><span>Month</span><input type="month" data-testid="cost-month" value={form.month} onInput={set('month')} /></label>
        <label class="field"><span>App</span><input data-testid="cost-app" value={form.app} onInput={set('app')} /></label>
        <label class="field"><span>Stage</span><input data-testid="cost-stage" value={form.stage} onInput={set('stage')} /></label>
        <button type="submit">Show</button>
      </form>
      <ErrorBox error={cost.error} />
      {cost.data ? <Report c={cost.data} /> : !cost.error && <Loading what="the bill" />}
    </>
  );
}
