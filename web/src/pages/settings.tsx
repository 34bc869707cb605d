import { useEffect, useState } from 'preact/hooks';
import { TableHead } from '../table-head.js';
import { api, ApiError } from '../api.js';

interface Setting {
  readonly path: string;
  readonly env: string;
  readonly description: string;
  readonly type: string;
  readonly allowed?: readonly unknown[];
  readonly default: unknown;
  readonly secret: boolean;
  readonly value: unknown;
  readonly isSet: boolean;
  readonly source: string;
  readonly pending?: unknown;
  readonly pinned: boolean;
  readonly editable: boolean;
  readonly live: boolean;
}
interface ChangeResult {
  readonly changed: ReadonlyArray<{ path: string }>;
  readonly applied: readonly string[];
  readonly restartRequired: readonly string[];
}

const shown = (setting: Setting, value: unknown): string => {
  if (setting.secret) return setting.isSet ? 'set' : 'not set';
  if (value === '' || value === undefined || value === null) return '(empty)';
  return String(value);
};

/** A form value as the setting's type: the API validates it like a start would. */
const parsed = (setting: Setting, text: string): unknown => {
  if (setting.type === 'integer' || setting.type === 'number') return text.trim() === '' ? text : Number(text);
  if (setting.type === 'boolean') return text === 'true';
  return text;
};

const SettingEditor = ({ setting, onSaved }: { setting: Setting; onSaved: (message: string) => void }) => {
  const initial = setting.secret ? '' : String(setting.pending !== undefined ? setting.pending : (setting.value ?? ''));
  const [text, setText] = useState(initial);
  const [error, setError] = useState<string | undefined>();
  const label = `New value for ${setting.path}`;

  const save = async (value: unknown) => {
    setError(undefined);
    try {
      const result = await api<ChangeResult>('PUT', '/v1/admin/config', { settings: { [setting.path]: value } });
      onSaved(result.applied.includes(setting.path) ? `${setting.path} changed; in effect now.` : `${setting.path} changed; in effect after a restart.`);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    }
  };

  const onInput = (event: Event) => setText((event.target as HTMLInputElement).value);
  const input =
    setting.type === 'boolean' || setting.allowed ? (
      <select aria-label={label} value={text} onChange={(event) => setText((event.target as HTMLSelectElement).value)}>
        {(setting.type === 'boolean' ? ['true', 'false'] : (setting.allowed ?? []).map(String)).map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    ) : setting.secret ? (
      <input aria-label={label} type="password" autoComplete="off" placeholder="type a new value (never shown)" value={text} onInput={onInput} />
    ) : setting.type === 'integer' || setting.type === 'number' ? (
      <input aria-label={label} type="number" step={setting.type === 'number' ? 'any' : '1'} value={text} onInput={onInput} />
    ) : (
      <input aria-label={label} type="text" value={text} onInput={onInput} />
    );
  return (
    <form
      class="setting-edit"
      onSubmit={(event) => {
        event.preventDefault();
        void save(parsed(setting, text));
      }}
    >
      {input}
      <button type="submit" disabled={setting.secret ? text === '' : text === initial}>
        Save
      </button>
      {setting.source === 'settings file' && (
        <button type="button" class="link" onClick={() => void save(null)}>
          Use the default
        </button>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
};

/**
 * Settings: every setting with its value in effect and where it comes from (secrets as set or
 * not, never their value), filtered by name or meaning; editable ones change through the
 * configuration API, which validates them as a start would and audits the change.
 */
export const SettingsPage = () => {
  const [settings, setSettings] = useState<readonly Setting[]>([]);
  const [filter, setFilter] = useState('');
  const [notice, setNotice] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const load = () => api<{ settings: Setting[] }>('GET', '/v1/config').then(({ settings: list }) => setSettings(list), (failure: unknown) => setError(failure instanceof Error ? failure.message : String(failure)));
  useEffect(() => void load(), []);

  const needle = filter.trim().toLowerCase();
  const visible = needle ? settings.filter((setting) => `${setting.path} ${setting.env} ${setting.description}`.toLowerCase().includes(needle)) : settings;
  const sections = [...new Set(visible.map((setting) => setting.path.split('.')[0] as string))];
  return (
    <section aria-labelledby="settings-title">
      <h2 id="settings-title">Settings</h2>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <p role="status" aria-live="polite">
        {notice}
      </p>
      <label>
        Find a setting
        <input type="search" value={filter} onInput={(event) => setFilter((event.target as HTMLInputElement).value)} />
      </label>
      {sections.map((section) => (
        <table key={section} class="settings">
          <caption>{section}</caption>
          <TableHead columns={['Setting', 'In effect', 'From', 'Change']} />
          <tbody>
            {visible
              .filter((setting) => setting.path.startsWith(`${section}.`))
              .map((setting) => (
                <tr key={setting.path}>
                  <th scope="row">
                    <code>{setting.path}</code>
                    <p class="notice">{setting.description}</p>
                  </th>
                  <td>
                    {shown(setting, setting.value)}
                    {setting.pending !== undefined && <p class="bad">after a restart: {setting.secret ? 'a new value' : shown(setting, setting.pending)}</p>}
                  </td>
                  <td>{setting.source}</td>
                  <td>
                    {setting.editable ? (
                      <SettingEditor
                        key={`${setting.path}:${String(setting.pending ?? setting.value)}`}
                        setting={setting}
                        onSaved={(message) => {
                          setNotice(message);
                          void load();
                        }}
                      />
                    ) : (
                      <span class="notice">{setting.pinned ? `set by ${setting.env}` : 'only in the config file or environment'}</span>
                    )}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      ))}
    </section>
  );
};
