/**
 * Tenants: every credential belongs to one, and so does every record it creates.
 * A caller sees only its own tenant's records; admins see every tenant's.
 */
export const DEFAULT_TENANT = 'default';

const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export class TenantNameError extends Error {}

/** Normalises and checks a tenant name given by a person or a client. */
export const checkTenant = (value: string): string => {
  const name = value.trim().toLowerCase();
  if (!TENANT.test(name)) throw new TenantNameError(`a tenant is 1–63 characters: lower-case letters, digits, "_" or "-", starting with a letter or digit (got "${value}")`);
  return name;
};

/** Which records a caller may reach: one tenant's, or (admins) all of them. */
export type TenantScope = { readonly tenant: string } | { readonly allTenants: true };

export const ALL_TENANTS: TenantScope = { allTenants: true };

export const tenantScope = (tenant: string): TenantScope => ({ tenant });

export const scopeAllows = (scope: TenantScope, tenant: string): boolean => 'allTenants' in scope || scope.tenant === tenant;
