// How numbers, times and money read in the tables.

export const int = (n: number | null | undefined) =>
  n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US');

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n >= 10000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 100) return `${Math.round(n)} ms`;
  return `${n.toFixed(1)} ms`;
}

export function usd(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  // Tiny amounts keep two significant digits rather than reading as $0.00.
  const digits = n !== 0 && Math.abs(n) < 0.01 ? Math.min(12, 1 - Math.floor(Math.log10(Math.abs(n)))) : 2;
  return `$${n.toFixed(digits)}`;
}

export const num = (n: number, digits = 2) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits });

const pad = (n: number) => String(n).padStart(2, '0');

/** Local time, to the second (and the millisecond for log lines). */
export function time(tsMs: number, millis = false): string {
  const d = new Date(tsMs);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${s}.${String(d.getMilliseconds()).padStart(3, '0')}` : s;
}

export function ago(tsMs: number): string {
  const s = Math.max(0, Math.round((Date.now() - tsMs) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const pct = (n: number) => `${n.toFixed(1)} %`;

/** A log record as text: runtimes join a multi-line message (a Python traceback, a
 *  Node stack) with `\r` to keep it one record, which a `<pre>` would show as spaces;
 *  each part goes on its own line, the continuations indented. */
export const logText = (line: string) => line.replace(/\r+$/, '').split('\r').join('\n    ');
