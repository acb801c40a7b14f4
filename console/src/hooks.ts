// Hash routing and polled data, the two things every page needs.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Route {
  /** `/`, `/functions/NAME`, `/logs`... */
  path: string;
  query: URLSearchParams;
}

function parse(): Route {
  const h = location.hash.replace(/^#/, '') || '/';
  const i = h.indexOf('?');
  const path = i < 0 ? h : h.slice(0, i);
  return { path: path || '/', query: new URLSearchParams(i < 0 ? '' : h.slice(i + 1)) };
}

/** The route in the hash, following its changes. */
export function useRoute(): Route {
  const [r, setR] = useState(parse);
  useEffect(() => {
    const f = () => setR(parse());
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return r;
}

/** Rewrites the hash's query without adding a history entry per keystroke. */
export function setHashQuery(path: string, q: Record<string, string>) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) p.set(k, v);
  const s = p.toString();
  history.replaceState(null, '', `#${path}${s ? `?${s}` : ''}`);
}

export interface Polled<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

/**
 * Fetches now and every `everyMs` (0: once), keeping the last good answer while
 * a later one fails. Re-runs when `key` changes.
 */
export function usePoll<T>(fetcher: () => Promise<T>, everyMs: number, key = ''): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  const f = useRef(fetcher);
  f.current = fetcher;
  const shown = useRef(key);
  useEffect(() => {
    // Another key is another thing: do not show the last one's data meanwhile.
    if (shown.current !== key) {
      shown.current = key;
      setData(undefined);
    }
    let live = true;
    let timer: number | undefined;
    const run = async () => {
      try {
        const d = await f.current();
        if (!live) return;
        setData(d);
        setError(undefined);
      } catch (e) {
        if (live) setError((e as Error).message);
      }
      if (live && everyMs > 0) timer = window.setTimeout(run, everyMs);
    };
    run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key, everyMs, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload };
}
