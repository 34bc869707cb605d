import { notFound } from '../errors.js';
import { scopeAllows, type TenantScope } from '../security/tenants.js';
import type { Call, CallChange, CallEvent, CallListOptions, CallRepository, NewCall } from '../store/calls.js';

/**
 * Phone call records, limited to the caller's tenant like conversations: another tenant's
 * call answers 404, like an unknown one. Admins reach every tenant.
 */
export class CallRecords {
  constructor(private readonly repository: CallRepository) {}

  create(input: NewCall): Promise<Call> {
    return this.repository.create(input);
  }

  async get(id: string, scope: TenantScope): Promise<{ call: Call; events: CallEvent[] }> {
    const call = await this.owned(id, scope);
    return { call, events: await this.repository.events(call.id) };
  }

  async owned(id: string, scope: TenantScope): Promise<Call> {
    const call = await this.repository.find(id);
    if (!call || !scopeAllows(scope, call.tenant)) throw notFound('call');
    return call;
  }

  list(scope: TenantScope, options: Omit<CallListOptions, 'tenant'> & { tenant?: string }): Promise<Call[]> {
    const tenant = 'allTenants' in scope ? options.tenant : scope.tenant;
    return this.repository.list({ ...options, ...(tenant !== undefined ? { tenant } : {}) });
  }

  findBySid(callSid: string): Promise<Call | undefined> {
    return this.repository.findBySid(callSid);
  }

  apply(id: string, change: CallChange): Promise<{ call: Call; duplicate: boolean }> {
    return this.repository.apply(id, change);
  }

  purgeOlderThan(days: number, now = new Date()): Promise<number> {
    return this.repository.purgeCreatedBefore(new Date(now.getTime() - days * 86_400_000));
  }
}
