// Small pieces shared by the pages.
import type { ComponentChildren } from 'preact';

export function ErrorBox({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" data-testid="error">
      {error}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <p class="muted">Loading {what}…</p>;
}

export function Section(p: { title: string; children: ComponentChildren; extra?: ComponentChildren }) {
  return (
    <section>
      <h2>
        {p.title}
        {p.extra && <span class="h-extra">{p.extra}</span>}
      </h2>
      {p.children}
    </section>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted empty">{children}</p>;
}

export function Outcome({ value }: { value: string }) {
  const cls = value === 'success' || value === 'succeeded' || value === 'deployed' ? 'ok'
    : value.startsWith('failed') || value === 'error' || value === 'timeout' ? 'bad' : 'neutral';
  return <span class={`pill ${cls}`}>{value}</span>;
}
