/**
 * What a caller's access rests on. Tokens name it, and open sessions re-check it, so
 * revoking a key, rotating an account's secret or logging out ends everything made from it.
 */
export type CredentialSource =
  | { readonly kind: 'key'; readonly id: string }
  | { readonly kind: 'service-account'; readonly id: string; readonly secretVersion: number }
  | { readonly kind: 'admin-session'; readonly id: string };

const SUBJECT = /^(key|service-account|admin-session):([A-Za-z0-9-]{1,64})(?::v(\d{1,9}))?$/;

/** The JWT `sub` claim for a source. */
export const sourceSubject = (source: CredentialSource): string =>
  source.kind === 'service-account' ? `service-account:${source.id}:v${source.secretVersion}` : `${source.kind}:${source.id}`;

export const parseSourceSubject = (subject: string): CredentialSource | undefined => {
  const match = SUBJECT.exec(subject);
  if (!match) return undefined;
  const [, kind, id = '', version] = match;
  if (kind === 'service-account') return version ? { kind, id, secretVersion: Number(version) } : undefined;
  if (version) return undefined;
  return { kind: kind as 'key' | 'admin-session', id };
};
