// The red banner shown while a budget is at 80 % or more of its month.
import { pct, usd } from '../format';
import type { Budget } from '../types';

export function BudgetBanner({ budgets }: { budgets?: Budget[] }) {
  const hot = (budgets ?? []).filter((b) => b.percent >= 80);
  if (!hot.length) return null;
  return (
    <div class="banner" role="alert" data-testid="budget-banner">
      {hot.map((b) => (
        <div key={b.scope} data-scope={b.scope}>
          <strong>Budget {b.state === 'exceeded' ? 'exceeded' : 'warning'}:</strong>{' '}
          {b.scope} has spent {usd(b.spent_usd)} of {usd(b.monthly_usd)} in {b.month} ({pct(b.percent)}, AWS-equivalent).
        </div>
      ))}
    </div>
  );
}
