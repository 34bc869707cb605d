import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentRegistry } from '../../agents/registry.js';
import { isFinalStatus } from '../../calls/call-status.js';
import type { CallRecords } from '../../calls/call-records.js';
import { ConfigError } from '../../config/load.js';
import type { HarkenConfig } from '../../config/schema.js';
import { badRequest, conflict, HarkenError } from '../../errors.js';
import type { TenantScope } from '../../security/tenants.js';
import type { Call } from '../../store/calls.js';
import { E164, list, matches, PATTERN, type CallPolicy } from './call-policy.js';
import type { PhoneCalls } from './phone-calls.js';
import type { StreamTokens } from './stream-tokens.js';
import { TwilioApiError, type TwilioApi } from './twilio-api.js';
import { streamTwiml } from './twiml.js';

export interface PlaceCallRequest {
  readonly to: string;
  readonly from?: string;
  readonly agent?: string;
  /** Overrides twilio.machineDetection for this call. */
  readonly machineDetection?: boolean;
  /** Overrides twilio.voicemailMessage for this call. */
  readonly voicemailMessage?: string;
}

export interface OutboundDependencies {
  readonly config: HarkenConfig;
  readonly api: TwilioApi;
  readonly tokens: StreamTokens;
  readonly calls: PhoneCalls;
  readonly records: CallRecords;
  readonly agents: AgentRegistry;
  readonly policy: CallPolicy;
  /** Where the TwiML points the call's media stream (wss://…/v1/twilio/media). */
  readonly streamUrl: string;
  /** Twilio's status and AMD callbacks (https://…/v1/twilio/status). */
  readonly statusUrl: string;
  /** Calls on this server and sessions on the server: a call is placed only when it can be carried. */
  readonly serverFull: () => boolean;
  /** The server is shutting down: no call is placed. */
  readonly shuttingDown?: () => boolean;
  readonly logger: Logger;
}

const asHarkenError = (error: unknown, what: string): HarkenError => {
  if (!(error instanceof TwilioApiError)) return new HarkenError(502, 'twilio_unavailable', `${what}: Twilio could not be reached`);
  const detail = `${error.message}${error.code ? ` (Twilio error ${error.code})` : ''}`;
  // Twilio's 4xx is about the request (an invalid or unverified number); anything else is Twilio's side.
  return error.status !== undefined && error.status >= 400 && error.status < 500 ? new HarkenError(400, 'twilio_rejected', `${what}: ${detail}`) : new HarkenError(502, 'twilio_unavailable', `${what}: ${detail}`);
};

/**
 * Outbound calls: `POST /v1/calls` dials `to` (an allowed E.164 number) from one of your Twilio
 * numbers with the Twilio SDK; the TwiML sends the answered call to the media stream with a
 * one-time token, so the agent speaks first. Every status and the AMD verdict come back to
 * `POST /v1/twilio/status`.
 */
export class OutboundCalls {
  private readonly allowed: string[];
  private readonly callerIds: string[];
  /** Placed calls whose stream has not started: the token that holds their place, by call sid. */
  private readonly pending = new Map<string, string>();

  /** The outbound settings, checked (one clear line per problem): the patterns `to` must match. */
  static allowedPatterns(config: HarkenConfig): string[] {
    const { twilio } = config;
    const problems: Array<{ setting: string; source: string; message: string }> = [];
    const allowed = list(twilio.outboundAllow).filter((pattern) => {
      if (PATTERN.test(pattern)) return true;
      problems.push({ setting: 'twilio.outboundAllow', source: 'HARKEN_TWILIO_OUTBOUND_ALLOW', message: `"${pattern}" is not an E.164 number or prefix ending in *` });
      return false;
    });
    if (twilio.callerId && !E164.test(twilio.callerId)) problems.push({ setting: 'twilio.callerId', source: 'HARKEN_TWILIO_CALLER_ID', message: 'must be one of your Twilio numbers in E.164 (+15550100)' });
    if (problems.length > 0) throw new ConfigError(problems);
    return allowed;
  }

  constructor(private readonly deps: OutboundDependencies) {
    const { twilio } = deps.config;
    this.allowed = OutboundCalls.allowedPatterns(deps.config);
    this.callerIds = [...new Set([...(twilio.callerId ? [twilio.callerId] : []), ...deps.policy.ownNumbers])];
  }

  async place(owner: { tenant: string }, request: PlaceCallRequest): Promise<Call> {
    const { config, calls } = this.deps;
    if (!E164.test(request.to)) throw badRequest('invalid_number', '`to` must be an E.164 number such as +15550100');
    if (!this.allowed.some((pattern) => matches(pattern, request.to))) {
      throw new HarkenError(403, 'number_not_allowed', this.allowed.length === 0 ? 'outbound calls are off: list the numbers they may dial in twilio.outboundAllow' : `${request.to} is not in twilio.outboundAllow`);
    }
    const from = request.from ?? this.callerIds[0];
    if (!from) throw badRequest('no_caller_id', 'no number to call from: set twilio.callerId (one of your Twilio numbers)');
    if (!this.callerIds.includes(from)) throw badRequest('unknown_caller_id', `\`from\` must be one of your numbers: ${this.callerIds.join(', ')}`);
    const agent = request.agent ?? config.agents.default;
    if (!this.deps.agents.get(agent)) throw badRequest('unknown_agent', `no agent named "${agent}"; available: ${this.deps.agents.names().join(', ')}`);
    if (this.deps.shuttingDown?.()) throw new HarkenError(503, 'shutting_down', 'the server is shutting down; place the call again in a moment');
    if (calls.size >= config.twilio.maxConcurrentCalls || this.deps.serverFull()) throw new HarkenError(429, 'too_many_calls', `${config.twilio.maxConcurrentCalls} calls are in progress; try again when one has ended`);

    // Held in the same tick as the check, so simultaneous requests cannot all pass it.
    const placing = `placing:${randomUUID()}`;
    calls.reserve(placing, 60_000);
    try {
      return await this.dial(owner, request, from, agent);
    } finally {
      calls.unreserve(placing);
    }
  }

  private async dial(owner: { tenant: string }, request: PlaceCallRequest, from: string, agent: string): Promise<Call> {
    const { config, records, tokens, calls } = this.deps;
    const machineDetection = request.machineDetection ?? config.twilio.machineDetection;
    const call = await records.create({ tenant: owner.tenant, direction: 'outbound', from, to: request.to, agent, status: 'queued' });
    // It may ring for twilio.ringTimeoutS before it is answered and the stream starts.
    const ttlMs = config.twilio.ringTimeoutS * 1000 + config.twilio.streamTokenTtlMs;
    const token = tokens.issue(
      {
        callId: call.id,
        tenant: owner.tenant,
        agent,
        from,
        to: request.to,
        direction: 'outbound',
        machineDetection,
        voicemailMessage: request.voicemailMessage ?? config.twilio.voicemailMessage,
      },
      ttlMs,
    ) as string;
    calls.reserve(token, ttlMs, () => {
      // Neither a stream nor a final status came in time (callbacks unreachable?): the call is not ours to carry.
      for (const [sid, pendingToken] of this.pending) if (pendingToken === token) this.pending.delete(sid);
      tokens.revoke(token);
      void records.apply(call.id, { source: 'server', dedupeKey: 'stream:never', status: 'failed', endReason: 'stream_not_started' }).catch((error: unknown) => this.deps.logger.error({ err: error, callId: call.id }, 'closing the call record failed'));
    });
    let placed;
    try {
      placed = await this.deps.api.placeCall({
        to: request.to,
        from,
        twiml: streamTwiml(this.deps.streamUrl, token, agent),
        statusCallback: `${this.deps.statusUrl}?call=${call.id}`,
        ringTimeoutS: config.twilio.ringTimeoutS,
        ...(machineDetection ? { machineDetection: config.twilio.onMachine === 'voicemail' ? 'DetectMessageEnd' : 'Enable', machineDetectionTimeoutS: config.twilio.machineDetectionTimeoutS } : {}),
      });
    } catch (error) {
      tokens.revoke(token);
      calls.unreserve(token);
      const failure = asHarkenError(error, 'Twilio did not place the call');
      await records.apply(call.id, { source: 'api', dedupeKey: 'placed', status: 'failed', endReason: 'not_placed', error: failure.message });
      throw failure;
    }
    tokens.bind(token, placed.sid);
    this.pending.set(placed.sid, token);
    const { call: updated } = await records.apply(call.id, { source: 'api', dedupeKey: 'placed', callSid: placed.sid, status: placed.status, details: { machineDetection } });
    // Twilio's final callback (busy, failed) can come before its answer to the create: nothing will settle it later.
    if (isFinalStatus(updated.status)) this.settled(placed.sid);
    this.deps.logger.info({ callId: call.id, callSid: placed.sid, agent, machineDetection }, 'outbound call placed');
    return updated;
  }

  /** The stream started (it holds its own place now) or the call ended unanswered: its token is done. */
  settled(callSid: string): void {
    const token = this.pending.get(callSid);
    if (!token) return;
    this.pending.delete(callSid);
    this.deps.tokens.revoke(token);
    this.deps.calls.unreserve(token);
  }

  /** Hangs up (answered) or cancels (still ringing) a call through Twilio. */
  async hangUp(id: string, scope: TenantScope): Promise<Call> {
    const { records, calls, api } = this.deps;
    const call = await records.owned(id, scope);
    if (isFinalStatus(call.status)) throw conflict('call_ended', `the call has ended (status ${call.status})`);
    if (!call.callSid) throw conflict('call_not_placed', 'Twilio has not accepted this call yet');
    const live = calls.connection(call.callSid) !== undefined;
    const ringing = !live && ['queued', 'initiated', 'ringing'].includes(call.status);
    // The stream stops as soon as Twilio hangs up, perhaps before Twilio's answer reaches us: it must know why.
    calls.hangingUpByApi(call.callSid, true);
    let status: string;
    try {
      status = await api.hangUp(call.callSid, ringing ? 'canceled' : 'completed');
    } catch (error) {
      // The call goes on: nothing about an API hang-up is recorded.
      calls.hangingUpByApi(call.callSid, false);
      throw asHarkenError(error, 'Twilio did not end the call');
    }
    // A live stream clears the mark when it closes; a call without one here has nothing to clear it.
    if (!live) calls.hangingUpByApi(call.callSid, false);
    const { call: updated } = await records.apply(call.id, { source: 'api', dedupeKey: `hangup-status:${status}`, status, endReason: 'api_hangup' });
    if (isFinalStatus(status)) this.settled(call.callSid);
    return updated;
  }
}
