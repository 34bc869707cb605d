import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, csrf } from '../api.js';

interface LoginAnswer {
  readonly admin: { readonly username: string };
  readonly csrfToken: string;
  readonly expiresAt: string;
}

const MESSAGES: Record<string, string> = {
  invalid_credentials: 'Wrong username or password.',
  invalid_second_factor: 'That code is wrong or was already used.',
  account_disabled: 'This admin account is disabled. Another admin can enable it.',
  invalid_setup_code: 'The setup code is wrong or was already used.',
  already_set_up: 'An admin already exists: log in instead.',
};

/** Login (with a second factor where enrolled), and first-run setup with the code `harken serve` printed. */
export const LoginPage = ({ onLogin, notice }: { onLogin: (username: string) => void; notice?: string | undefined }) => {
  const [mode, setMode] = useState<'login' | 'setup'>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [setupCode, setSetupCode] = useState('');
  const [needsCode, setNeedsCode] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [lockedUntil, setLockedUntil] = useState<number | undefined>();
  const [now, setNow] = useState(Date.now());
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!lockedUntil) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [lockedUntil]);
  const lockedFor = lockedUntil ? Math.max(0, Math.ceil((lockedUntil - now) / 1000)) : 0;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const answer =
        mode === 'login'
          ? await api<LoginAnswer>('POST', '/v1/auth/login', { username, password, ...(needsCode && totp ? { totp } : {}) })
          : await api<LoginAnswer>('POST', '/v1/auth/setup', { setupCode, username, password });
      csrf.set(answer.csrfToken);
      setLockedUntil(undefined);
      onLogin(answer.admin.username);
    } catch (failure) {
      if (!(failure instanceof ApiError)) setError('The server could not be reached.');
      else if (failure.code === 'second_factor_required') {
        setNeedsCode(true);
        setError('Enter the 6-digit code from your authenticator app.');
      } else if (failure.code === 'too_many_attempts') {
        setLockedUntil(Date.now() + (failure.retryAfterSeconds ?? 60) * 1000);
        setNow(Date.now());
      } else setError(MESSAGES[failure.code] ?? failure.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <h1>Harken</h1>
      <form onSubmit={submit} aria-labelledby="login-title">
        <h2 id="login-title">{mode === 'login' ? 'Log in' : 'Create the first admin'}</h2>
        {notice && <p class="notice" role="status">{notice}</p>}
        {mode === 'setup' && (
          <label>
            Setup code (printed by <code>harken serve</code>)
            <input name="setupCode" autocomplete="one-time-code" required value={setupCode} onInput={(event) => setSetupCode(event.currentTarget.value)} />
          </label>
        )}
        <label>
          Username
          <input name="username" autocomplete="username" required value={username} onInput={(event) => setUsername(event.currentTarget.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete={mode === 'login' ? 'current-password' : 'new-password'} required value={password} onInput={(event) => setPassword(event.currentTarget.value)} />
        </label>
        {needsCode && mode === 'login' && (
          <label>
            Authenticator code
            <input name="totp" inputMode="numeric" autocomplete="one-time-code" required value={totp} onInput={(event) => setTotp(event.currentTarget.value)} />
          </label>
        )}
        {lockedFor > 0 && (
          <p class="error" role="alert">
            Too many attempts. Try again in <span class="countdown">{lockedFor}</span> s.
          </p>
        )}
        {error && !lockedFor && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy || lockedFor > 0}>
          {mode === 'login' ? 'Log in' : 'Create admin and log in'}
        </button>
        <button type="button" class="link" onClick={() => setMode(mode === 'login' ? 'setup' : 'login')}>
          {mode === 'login' ? 'First run? Create the first admin' : 'Back to log in'}
        </button>
      </form>
    </main>
  );
};
