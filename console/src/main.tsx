// The console's shell: the session check, the nav bar and the page for the hash.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, onUnauthorized } from './api';
import { useRoute } from './hooks';
import { Cost } from './pages/Cost';
import { Deploys } from './pages/Deploys';
import { Events } from './pages/Events';
import { FunctionPage } from './pages/Function';
import { Login } from './pages/Login';
import { Logs } from './pages/Logs';
import { Overview } from './pages/Overview';
import './style.css';

type Session = 'checking' | 'in' | 'out' | 'open';

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/logs', 'Logs'],
  ['/deploys', 'Deploys'],
  ['/events', 'Events'],
  ['/cost', 'Cost'],
];

function Page() {
  const r = useRoute();
  const fn = r.path.match(/^\/functions\/(.+)$/);
  if (fn) return <FunctionPage key={fn[1]} name={decodeURIComponent(fn[1])} />;
  switch (r.path) {
    case '/': return <Overview />;
    case '/logs': return <Logs params={r.query} />;
    case '/deploys': return <Deploys />;
    case '/events': return <Events />;
    case '/cost': return <Cost params={r.query} />;
    default: return <p data-testid="not-found">No page here. <a href="#/">Overview</a></p>;
  }
}

function Nav({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const r = useRoute();
  const current = r.path.startsWith('/functions/') ? '/' : r.path;
  return (
    <header class="nav" data-testid="nav">
      <a class="brand" href="#/">ondol</a>
      {NAV.map(([path, label]) => (
        <a key={path} href={`#${path}`} class={current === path ? 'active' : ''} data-testid={`nav-${label.toLowerCase()}`}>
          {label}
        </a>
      ))}
      <span class="spacer" />
      {session === 'in' && (
        <a href="#" data-testid="sign-out" onClick={(e) => { e.preventDefault(); onSignOut(); }}>Sign out</a>
      )}
    </header>
  );
}

function App() {
  const [session, setSession] = useState<Session>('checking');
  const [error, setError] = useState<string>();
  const check = async () => {
    try {
      await call('GET', '/ondol/v1/console/session', undefined, { quiet401: true });
      setSession('in');
    } catch (e) {
      const status = (e as { status?: number }).status;
      // A server without console sessions (no auth) serves everything.
      if (status === 404) setSession('open');
      // 403: a server that wants signed requests and has no console session yet.
      else if (status === 401 || status === 403) setSession('out');
      else setError((e as Error).message);
    }
  };
  useEffect(() => {
    check();
    return onUnauthorized(() => setSession('out'));
  }, []);
  const signOut = async () => {
    try {
      await call('POST', '/ondol/v1/console/logout', {}, { quiet401: true });
    } catch {
      // Signed out either way.
    }
    setSession('out');
  };
  if (error) return <div class="error" role="alert">{error}</div>;
  if (session === 'checking') return <p class="muted">Loading…</p>;
  if (session === 'out') return <Login onDone={() => location.reload()} />;
  return (
    <>
      <Nav session={session} onSignOut={signOut} />
      <main><Page /></main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
