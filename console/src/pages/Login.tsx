// The sign-in form: an access key id and secret, checked by the server, which
// answers with a session cookie.
import { useState } from 'preact/hooks';
import { call } from '../api';

export function Login({ onDone }: { onDone: () => void }) {
  const [id, setId] = useState('');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await call('POST', '/ondol/v1/console/login', { access_key_id: id, secret_access_key: secret }, { quiet401: true });
      onDone();
    } catch (err) {
      const status = (err as { status?: number }).status;
      setError(status === 401 ? 'wrong key or secret' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login">
      <form data-testid="login-form" onSubmit={submit}>
        <h1>ondol console</h1>
        <p class="muted">Sign in with an access key of this server.</p>
        <label class="field">
          <span>Access key id</span>
          <input name="access_key_id" data-testid="login-access-key-id" autocomplete="username" value={id} onInput={(e) => setId(e.currentTarget.value)} required />
        </label>
        <label class="field">
          <span>Secret access key</span>
          <input name="secret_access_key" type="password" data-testid="login-secret" autocomplete="current-password" value={secret} onInput={(e) => setSecret(e.currentTarget.value)} required />
        </label>
        {error && <div class="error" role="alert" data-testid="login-error">{error}</div>}
        <button type="submit" data-testid="login-submit" disabled={busy}>Sign in</button>
      </form>
    </div>
  );
}
