import { useEffect, useState } from 'preact/hooks';
import { api, csrf, whenSessionEnds } from './api.js';
import { AuditPage } from './pages/audit.js';
import { ConversationsPage } from './pages/conversations.js';
import { HealthPage } from './pages/health.js';
import { KeysPage } from './pages/keys.js';
import { LivePage } from './pages/live.js';
import { LoginPage } from './pages/login.js';
import { SettingsPage } from './pages/settings.js';
import { TalkPage } from './pages/talk.js';
import { navigate, useRoute } from './router.js';

interface Me {
  readonly actor: string;
  readonly via: string;
  readonly kind: string;
}

const PAGES: ReadonlyArray<{ route: string; title: string }> = [
  { route: '/talk', title: 'Talk' },
  { route: '/live', title: 'Live' },
  { route: '/conversations', title: 'Conversations' },
  { route: '/keys', title: 'Keys and accounts' },
  { route: '/health', title: 'Health' },
  { route: '/audit', title: 'Audit' },
  { route: '/settings', title: 'Settings' },
];

type SessionState = { readonly kind: 'checking' } | { readonly kind: 'out'; readonly notice?: string } | { readonly kind: 'in'; readonly actor: string };

/**
 * The web app: the login page until an admin session exists (a reload keeps it: the cookie
 * persists), then the pages. When the session ends under it (expiry, logout elsewhere) the
 * login page comes back and, after logging in again, the same page.
 */
export const App = () => {
  const route = useRoute();
  const [session, setSession] = useState<SessionState>({ kind: 'checking' });

  useEffect(() => {
    whenSessionEnds(() => setSession({ kind: 'out', notice: 'Your session has ended. Log in again to go on where you were.' }));
    api<Me>('GET', '/v1/auth/me')
      .then((me) => {
        if (me.via !== 'session') return setSession({ kind: 'out' });
        // The cookie outlived this browser's stored CSRF token (storage cleared): every change would
        // be refused, so log in again rather than show pages that cannot save.
        if (!csrf.get()) return setSession({ kind: 'out', notice: 'Log in again to make changes in this browser.' });
        setSession({ kind: 'in', actor: me.actor });
      })
      .catch(() => setSession({ kind: 'out' }));
  }, []);

  if (session.kind === 'checking') return <p class="loading">Loading…</p>;
  if (session.kind === 'out') {
    return (
      <LoginPage
        notice={session.notice}
        onLogin={(username) => {
          setSession({ kind: 'in', actor: `admin:${username}` });
          if (route === '/' || route === '') navigate('/health');
        }}
      />
    );
  }

  const logout = async () => {
    await api('POST', '/v1/auth/logout').catch(() => undefined);
    csrf.clear();
    setSession({ kind: 'out', notice: 'You are logged out.' });
  };
  const page = PAGES.find((entry) => entry.route === route) ?? PAGES[0]!;
  return (
    <div class="shell">
      <header>
        <h1>Harken</h1>
        <nav aria-label="Pages">
          {PAGES.map((entry) => (
            <a key={entry.route} href={`#${entry.route}`} aria-current={entry === page ? 'page' : undefined}>
              {entry.title}
            </a>
          ))}
        </nav>
        <span class="who">{session.actor.replace(/^admin:/, '')}</span>
        <button type="button" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <main>
        {page.route === '/talk' && <TalkPage />}
        {page.route === '/live' && <LivePage />}
        {page.route === '/conversations' && <ConversationsPage />}
        {page.route === '/keys' && <KeysPage me={session.actor.replace(/^admin:/, '')} />}
        {page.route === '/health' && <HealthPage />}
        {page.route === '/audit' && <AuditPage />}
        {page.route === '/settings' && <SettingsPage />}
      </main>
    </div>
  );
};
