/**
 * What a credential may do. `admin` includes every other scope. Service-account
 * permissions are scopes too (`satellite.*`), so one check covers every kind of caller.
 */
export const SCOPES = ['conversations', 'realtime', 'transcribe', 'synthesize', 'calls', 'metrics', 'admin', 'satellite.stream', 'satellite.heartbeat'] as const;
export type Scope = (typeof SCOPES)[number];

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);

/** Parses a list given by a person ("conversations, realtime"); unknown names are an error naming them. */
export const parseScopes = (values: readonly string[]): Scope[] => {
  const names = values.flatMap((value) => value.split(/[\s,]+/)).filter(Boolean);
  const unknown = names.filter((name) => !isScope(name));
  if (unknown.length > 0) throw new Error(`unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${SCOPES.join(', ')}`);
  if (names.length === 0) throw new Error(`at least one scope is needed; known: ${SCOPES.join(', ')}`);
  return [...new Set(names as Scope[])];
};

export const grants = (granted: readonly Scope[], needed: Scope): boolean => granted.includes('admin') || granted.includes(needed);

/**
 * Who may call a route: anyone, any authenticated caller, or callers holding a scope.
 * Declared on every route (`config.access`); a route without one is refused (secure default).
 */
export type Access = 'public' | 'authenticated' | Scope;
