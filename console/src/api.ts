// Every call to the management API: relative URLs, the session cookie, and the
// x-ondol-console header the server requires against CSRF.

/** An error answer of the API, with the message it gave. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public type?: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorized = new Set<Listener>();

/** Called whenever the API answers 401 (the session is gone). */
export function onUnauthorized(f: Listener): () => void {
  unauthorized.add(f);
  return () => unauthorized.delete(f);
}

async function errorOf(r: Response): Promise<ApiError> {
  const text = await r.text();
  try {
    const j = JSON.parse(text);
    const msg = j.message ?? j.Message ?? j.error ?? text;
    return new ApiError(r.status, String(msg), j.Type ?? j.__type);
  } catch {
    return new ApiError(r.status, text || `${r.status} ${r.statusText}`);
  }
}

/** A request; JSON body in and out (undefined for 204). */
export async function call<T>(
  method: string,
  url: string,
  body?: unknown,
  opts: { quiet401?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = { 'x-ondol-console': '1' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) {
    const e = await errorOf(r);
    if (r.status === 401 && !opts.quiet401) unauthorized.forEach((f) => f());
    throw e;
  }
  if (r.status === 204) return undefined as T;
  const text = await r.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(url: string) => call<T>('GET', url);
export const post = <T>(url: string, body?: unknown) => call<T>('POST', url, body ?? {});

/** A query string from the set values of `q`. */
export function qs(q: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
