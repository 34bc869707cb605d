import { useEffect, useState } from 'preact/hooks';
import { TableHead } from '../table-head.js';
import { api, ApiError } from '../api.js';

const SCOPES = ['conversations', 'realtime', 'transcribe', 'synthesize', 'calls', 'metrics', 'admin', 'satellite.stream', 'satellite.heartbeat'] as const;

interface Key {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly scopes: readonly string[];
  readonly status: 'active' | 'expired' | 'revoked';
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly usageCount: number;
  readonly rateLimit: number | null;
  readonly dailyLimit: number | null;
}
interface Account {
  readonly id: string;
  readonly name: string;
  readonly tenant: string;
  readonly permissions: readonly string[];
  readonly secretVersion: number;
  readonly disabledAt: string | null;
  readonly lastUsedAt: string | null;
}
interface Admin {
  readonly id: string;
  readonly username: string;
  readonly lastLoginAt: string | null;
  readonly disabledAt: string | null;
  readonly totpEnabled: boolean;
}

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : '–');
const messageOf = (failure: unknown): string => (failure instanceof ApiError || failure instanceof Error ? failure.message : String(failure));

/** A secret the server shows once: kept on screen until the admin has copied it and says done. */
const SecretOnce = ({ what, secret, onDone }: { what: string; secret: string; onDone: () => void }) => {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret" role="alert">
      <p>
        <strong>Copy the {what} now.</strong> It is not shown again.
      </p>
      <label>
        {what}
        <input readOnly value={secret} onFocus={(event) => (event.target as HTMLInputElement).select()} />
      </label>
      <button type="button" onClick={() => void navigator.clipboard.writeText(secret).then(() => setCopied(true), () => setCopied(false))}>
        {copied ? 'Copied' : 'Copy'}
      </button>{' '}
      <button type="button" class="link" onClick={onDone}>
        Done
      </button>
    </div>
  );
};

/** Checkboxes for scopes (keys) or permissions (service accounts). */
const ScopePicker = ({ legend, chosen, onChange }: { legend: string; chosen: readonly string[]; onChange: (scopes: string[]) => void }) => (
  <fieldset class="scopes">
    <legend>{legend}</legend>
    {SCOPES.map((scope) => (
      <label key={scope} class="inline">
        <input
          type="checkbox"
          checked={chosen.includes(scope)}
          onChange={(event) => onChange((event.target as HTMLInputElement).checked ? [...chosen, scope] : chosen.filter((entry) => entry !== scope))}
        />{' '}
        {scope}
      </label>
    ))}
  </fieldset>
);

/** A destructive action asks once more, in place (keyboard-friendly, no modal). */
const ConfirmButton = ({ label, confirm, onConfirm }: { label: string; confirm: string; onConfirm: () => void }) => {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" class="link" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span>
      <button type="button" class="danger" onClick={() => (setAsking(false), onConfirm())}>
        {confirm}
      </button>{' '}
      <button type="button" class="link" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
};

const optionalNumber = (value: string): number | undefined => (value.trim() === '' ? undefined : Number(value));

const KeysSection = () => {
  const [keys, setKeys] = useState<readonly Key[]>([]);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['conversations']);
  const [tenant, setTenant] = useState('');
  const [expires, setExpires] = useState('');
  const [perMinute, setPerMinute] = useState('');
  const [perDay, setPerDay] = useState('');
  const [secret, setSecret] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();

  const load = () => api<{ keys: Key[] }>('GET', '/v1/admin/keys').then(({ keys: list }) => setKeys(list), (failure: unknown) => setError(messageOf(failure)));
  useEffect(() => void load(), []);

  const create = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    try {
      const body = {
        name: name.trim(),
        scopes,
        ...(tenant.trim() ? { tenant: tenant.trim() } : {}),
        ...(expires ? { expiresAt: new Date(`${expires}T23:59:59`).toISOString() } : {}),
        ...(optionalNumber(perMinute) !== undefined ? { rateLimit: optionalNumber(perMinute) } : {}),
        ...(optionalNumber(perDay) !== undefined ? { dailyLimit: optionalNumber(perDay) } : {}),
      };
      const created = await api<{ key: string }>('POST', '/v1/admin/keys', body);
      setSecret(created.key);
      setName('');
      setScopes(['conversations']);
      setTenant('');
      setExpires('');
      setPerMinute('');
      setPerDay('');
      await load();
    } catch (failure) {
      setError(messageOf(failure));
    }
  };

  const revoke = async (key: Key) => {
    setError(undefined);
    await api('DELETE', `/v1/admin/keys/${key.id}`).catch((failure: unknown) => setError(messageOf(failure)));
    await load();
  };

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {secret && <SecretOnce what="API key" secret={secret} onDone={() => setSecret(undefined)} />}
      <form onSubmit={(event) => void create(event)} aria-label="New API key">
        <div class="filters">
          <label>
            Name
            <input required maxLength={100} value={name} onInput={(event) => setName((event.target as HTMLInputElement).value)} />
          </label>
          <label>
            Tenant (empty: default)
            <input value={tenant} onInput={(event) => setTenant((event.target as HTMLInputElement).value)} />
          </label>
          <label>
            Expires after (optional)
            <input type="date" value={expires} onInput={(event) => setExpires((event.target as HTMLInputElement).value)} />
          </label>
          <label>
            Requests per minute (optional)
            <input type="number" min={1} value={perMinute} onInput={(event) => setPerMinute((event.target as HTMLInputElement).value)} />
          </label>
          <label>
            Requests per day (optional)
            <input type="number" min={1} value={perDay} onInput={(event) => setPerDay((event.target as HTMLInputElement).value)} />
          </label>
        </div>
        <ScopePicker legend="Scopes" chosen={scopes} onChange={setScopes} />
        <button type="submit" disabled={!name.trim() || scopes.length === 0}>
          Create key
        </button>
      </form>
      <table>
        <caption>API keys</caption>
        <TableHead columns={['Name', 'Id', 'Tenant', 'Scopes', 'Status', 'Expires', 'Last used', 'Uses', 'Limits']} actions="Actions" />
        <tbody>
          {keys.map((key) => (
            <tr key={key.id}>
              <td>{key.name}</td>
              <td>
                <code>{key.id}</code>
              </td>
              <td>{key.tenant}</td>
              <td>{key.scopes.join(', ')}</td>
              <td class={key.status === 'active' ? 'ok' : 'bad'}>{key.status}</td>
              <td>{when(key.expiresAt)}</td>
              <td>{when(key.lastUsedAt)}</td>
              <td>{key.usageCount}</td>
              <td>
                {key.rateLimit ? `${key.rateLimit}/min` : 'server’s per-minute'}, {key.dailyLimit ? `${key.dailyLimit}/day` : 'server’s daily'}
              </td>
              <td>{key.status === 'active' && <ConfirmButton label={`Revoke ${key.name}`} confirm={`Revoke ${key.name} now`} onConfirm={() => void revoke(key)} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
};

const AccountsSection = () => {
  const [accounts, setAccounts] = useState<readonly Account[]>([]);
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState<string[]>(['satellite.stream', 'satellite.heartbeat']);
  const [tenant, setTenant] = useState('');
  const [secret, setSecret] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();

  const load = () => api<{ serviceAccounts: Account[] }>('GET', '/v1/admin/service-accounts').then(({ serviceAccounts }) => setAccounts(serviceAccounts), (failure: unknown) => setError(messageOf(failure)));
  useEffect(() => void load(), []);

  const act = async (work: () => Promise<void>) => {
    setError(undefined);
    try {
      await work();
    } catch (failure) {
      setError(messageOf(failure));
    }
    await load();
  };
  const create = (event: Event) => {
    event.preventDefault();
    void act(async () => {
      const created = await api<{ secret: string }>('POST', '/v1/admin/service-accounts', { name: name.trim(), permissions, ...(tenant.trim() ? { tenant: tenant.trim() } : {}) });
      setSecret(created.secret);
      setName('');
      setTenant('');
    });
  };

  return (
    <section aria-labelledby="accounts-title">
      <h2 id="accounts-title">Service accounts</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {secret && <SecretOnce what="service account secret" secret={secret} onDone={() => setSecret(undefined)} />}
      <form onSubmit={create} aria-label="New service account">
        <div class="filters">
          <label>
            Account name
            <input required maxLength={100} value={name} onInput={(event) => setName((event.target as HTMLInputElement).value)} />
          </label>
          <label>
            Account tenant (empty: default)
            <input value={tenant} onInput={(event) => setTenant((event.target as HTMLInputElement).value)} />
          </label>
        </div>
        <ScopePicker legend="Permissions" chosen={permissions} onChange={setPermissions} />
        <button type="submit" disabled={!name.trim() || permissions.length === 0}>
          Create service account
        </button>
      </form>
      <table>
        <caption>Service accounts</caption>
        <TableHead columns={['Name', 'Tenant', 'Permissions', 'Secret version', 'Status', 'Last used']} actions="Actions" />
        <tbody>
          {accounts.map((account) => (
            <tr key={account.id}>
              <td>{account.name}</td>
              <td>{account.tenant}</td>
              <td>{account.permissions.join(', ')}</td>
              <td>{account.secretVersion}</td>
              <td class={account.disabledAt ? 'bad' : 'ok'}>{account.disabledAt ? 'disabled' : 'active'}</td>
              <td>{when(account.lastUsedAt)}</td>
              <td>
                {!account.disabledAt && (
                  <>
                    <ConfirmButton
                      label={`Rotate ${account.name}`}
                      confirm={`Rotate ${account.name} now`}
                      onConfirm={() => void act(async () => setSecret((await api<{ secret: string }>('POST', `/v1/admin/service-accounts/${account.id}/rotate`)).secret))}
                    />{' '}
                    <ConfirmButton label={`Disable ${account.name}`} confirm={`Disable ${account.name} now`} onConfirm={() => void act(() => api('DELETE', `/v1/admin/service-accounts/${account.id}`))} />
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
};

/** Sets another admin's password (their sessions end); the server checks its strength. */
const PasswordReset = ({ admin, onReset }: { admin: Admin; onReset: (work: () => Promise<unknown>) => Promise<boolean> }) => {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  if (!open)
    return (
      <button type="button" class="link" onClick={() => setOpen(true)}>
        Reset {admin.username}’s password
      </button>
    );
  return (
    <form
      class="setting-edit"
      onSubmit={(event) => {
        event.preventDefault();
        void onReset(() => api('POST', `/v1/admin/admins/${admin.id}/password`, { password })).then((done) => done && setOpen(false));
      }}
    >
      <input type="password" aria-label={`New password for ${admin.username}`} autoComplete="new-password" value={password} onInput={(event) => setPassword((event.target as HTMLInputElement).value)} />
      <button type="submit" disabled={!password}>
        Set password
      </button>
      <button type="button" class="link" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </form>
  );
};

const AdminsSection = ({ me }: { me: string }) => {
  const [admins, setAdmins] = useState<readonly Admin[]>([]);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();

  const load = () => api<{ admins: Admin[] }>('GET', '/v1/admin/admins').then(({ admins: list }) => setAdmins(list), (failure: unknown) => setError(messageOf(failure)));
  useEffect(() => void load(), []);
  /** True when the work succeeded; its error is shown otherwise. */
  const act = async (work: () => Promise<unknown>): Promise<boolean> => {
    setError(undefined);
    let done = true;
    try {
      await work();
    } catch (failure) {
      setError(messageOf(failure));
      done = false;
    }
    await load();
    return done;
  };
  const create = (event: Event) => {
    event.preventDefault();
    void act(async () => {
      await api('POST', '/v1/admin/admins', { username: username.trim(), password });
      setUsername('');
      setPassword('');
    });
  };

  return (
    <section aria-labelledby="admins-title">
      <h2 id="admins-title">Admins</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <form onSubmit={create} aria-label="New admin" class="filters">
        <label>
          New admin’s username
          <input required maxLength={63} autoComplete="off" value={username} onInput={(event) => setUsername((event.target as HTMLInputElement).value)} />
        </label>
        <label>
          New admin’s password
          <input type="password" required autoComplete="new-password" value={password} onInput={(event) => setPassword((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={!username.trim() || !password}>
          Create admin
        </button>
      </form>
      <table>
        <caption>Admins</caption>
        <TableHead columns={['Username', 'Second factor', 'Status', 'Last login']} actions="Actions" />
        <tbody>
          {admins.map((admin) => (
            <tr key={admin.id}>
              <td>{admin.username}</td>
              <td>{admin.totpEnabled ? 'enrolled' : 'none'}</td>
              <td class={admin.disabledAt ? 'bad' : 'ok'}>{admin.disabledAt ? 'disabled' : 'active'}</td>
              <td>{when(admin.lastLoginAt)}</td>
              <td>
                {admin.username !== me &&
                  (admin.disabledAt ? (
                    <button type="button" class="link" onClick={() => void act(() => api('PATCH', `/v1/admin/admins/${admin.id}`, { disabled: false }))}>
                      Enable {admin.username}
                    </button>
                  ) : (
                    <ConfirmButton label={`Disable ${admin.username}`} confirm={`Disable ${admin.username} now`} onConfirm={() => void act(() => api('PATCH', `/v1/admin/admins/${admin.id}`, { disabled: true }))} />
                  ))}{' '}
                {admin.username !== me && (
                  <ConfirmButton label={`Log ${admin.username} out everywhere`} confirm={`End every session of ${admin.username}`} onConfirm={() => void act(() => api('DELETE', `/v1/admin/admins/${admin.id}/sessions`))} />
                )}{' '}
                {admin.username !== me && <PasswordReset admin={admin} onReset={(work) => act(work)} />}{' '}
                {admin.username !== me && <ConfirmButton label={`Delete ${admin.username}`} confirm={`Delete ${admin.username} for good`} onConfirm={() => void act(() => api('DELETE', `/v1/admin/admins/${admin.id}`))} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
};

/** Keys and accounts: API keys, service accounts and admins, created and ended from a login session. */
export const KeysPage = ({ me }: { me: string }) => (
  <>
    <KeysSection />
    <AccountsSection />
    <AdminsSection me={me} />
  </>
);
