import type { Logger } from 'pino';
import type { ConnectionMonitor } from '../../ops/connection-monitor.js';
import { isMachine, isMessageEnd } from '../../calls/call-status.js';
import type { CallRecords } from '../../calls/call-records.js';
import type { HarkenConfig } from '../../config/schema.js';
import { tenantScope } from '../../security/tenants.js';
import { SessionRefusedError, type SessionFactory } from '../session-factory.js';
import type { OutboundCalls } from './outbound-calls.js';
import type { PhoneCalls } from './phone-calls.js';
import type { StreamGrant, StreamTokens } from './stream-tokens.js';
import type { TwilioApi } from './twilio-api.js';
import type { CallControl, CallEndedBy, CallOpening } from './twilio-connection.js';
import { dialTwiml } from './twiml.js';

export interface CallControlDependencies {
  readonly config: HarkenConfig;
  readonly factory: SessionFactory;
  readonly tokens: StreamTokens;
  readonly calls: PhoneCalls;
  readonly records: CallRecords;
  readonly api: TwilioApi;
  readonly outbound: OutboundCalls;
  /** Audits a refused stream (reason and details; the address is the request's). */
  readonly refuse: (reason: string, details: Record<string, unknown>) => void;
  readonly ip: string;
  readonly connectionId: string;
  readonly logger: Logger;
  /** The stream's message rate, shown in the admin sessions view. */
  readonly monitor?: ConnectionMonitor;
}

/** How long a stream that started before its outbound call's create was answered waits for it. */
const BIND_WAIT_MS = 5_000;

const END_REASONS: Record<CallEndedBy, string> = { caller: 'caller_hung_up', agent: 'agent_ended', server: 'server_closed' };

/**
 * What one media stream needs from the server: its token checked and its session opened, the
 * answering-machine verdict awaited on outbound calls that asked for one, the agent's end of
 * the conversation carried out through Twilio's REST API (hang up, or `<Dial>` for a transfer),
 * and the call record kept up to date.
 */
export const callControl = (deps: CallControlDependencies): CallControl => {
  const { config, records } = deps;
  let grant: StreamGrant | undefined;
  const record = async (change: Parameters<CallRecords['apply']>[1]) => {
    if (!grant) return;
    try {
      await records.apply(grant.callId, change);
    } catch (error) {
      deps.logger.error({ err: error, callId: grant.callId }, 'updating the call record failed');
    }
  };

  /** A call that never reached the agent: failed, with why (the stream closing hangs it up). */
  const closeRecord = async (callId: string, endReason: string) => {
    try {
      await records.apply(callId, { source: 'stream', dedupeKey: 'stream:refused', status: 'failed', endReason });
    } catch (error) {
      deps.logger.error({ err: error, callId }, 'closing the call record failed');
    }
  };
  /** Set once Twilio took the redirect: the call goes on with the transfer target, not with us. */
  let transferred = false;
  /** The redirect in flight: Twilio may stop the stream before its answer reaches us. */
  let transfer: Promise<unknown> | undefined;

  return {
    async open(start, connection) {
      const token = start.customParameters.token ?? '';
      await deps.tokens.whenBound(token, BIND_WAIT_MS);
      const { granted, burnt } = deps.tokens.consume(token, start.callSid);
      // Used or refused, the token no longer holds a place (only a token's own place: not another key).
      if (granted || burnt) deps.calls.unreserve(token);
      if (!granted || start.accountSid !== config.twilio.accountSid) {
        deps.refuse(granted ? 'wrong_account' : 'bad_token', { callSid: start.callSid });
        // The call the token was for can no longer connect: its record ends here.
        const spent = granted ?? burnt;
        if (spent) await closeRecord(spent.callId, 'stream_refused');
        throw new Error('the stream token is missing, used, expired or for another call');
      }
      if (granted.direction === 'outbound') deps.outbound.settled(start.callSid);
      // Hung up while waiting for the bind: nothing may be counted for a line that is gone (it would never be removed).
      if (connection.isClosed) {
        try {
          await records.apply(granted.callId, { source: 'stream', dedupeKey: 'stream:end', status: 'completed', endReason: 'caller_hung_up' });
        } catch (error) {
          deps.logger.error({ err: error, callId: granted.callId }, 'closing the call record failed');
        }
        throw new Error('the caller hung up before the call was ready');
      }
      try {
        const opened = deps.factory.open(
          {
            // Per-number slots: the Twilio number that answered or placed the call.
            label: `twilio:${granted.direction === 'inbound' ? granted.to : granted.from}`,
            tenant: granted.tenant,
            scope: tenantScope(granted.tenant),
            maxSessions: config.twilio.maxConcurrentCalls,
            ip: deps.ip,
            limitAddress: `twilio-call:${start.callSid}`,
            connectionId: deps.connectionId,
            channel: 'phone',
            logger: deps.logger,
            ...(deps.monitor ? { monitor: deps.monitor } : {}),
          },
          { inputSampleRate: 8_000, agent: granted.agent, endEvenIfGoodbyeInterrupted: true, audioLeadMs: config.twilio.audioLeadMs },
          connection,
        );
        grant = granted;
        // Counted as a call only now: a socket that never brings a valid token holds no place.
        deps.calls.add(connection, start.callSid);
        return opened;
      } catch (error) {
        if (error instanceof SessionRefusedError) deps.refuse(error.code, { callSid: start.callSid });
        await closeRecord(granted.callId, error instanceof SessionRefusedError ? `refused:${error.code}` : 'session_failed');
        throw error;
      }
    },

    async opening(start, signal): Promise<CallOpening> {
      await record({ source: 'stream', dedupeKey: 'stream:start', status: 'in-progress', details: { streamSid: start.streamSid } });
      if (!grant?.machineDetection) return { kind: 'agent' };
      // Twilio answers "person or machine" within its timeout; the agent waits for it so it
      // does not greet a voicemail prompt, and starts anyway if the verdict never comes.
      const answeredBy = await deps.calls.awaitVerdict(start.callSid, (config.twilio.machineDetectionTimeoutS + 5) * 1000, signal);
      if (!answeredBy || !isMachine(answeredBy)) return { kind: 'agent', waited: true };
      if (config.twilio.onMachine === 'voicemail' && isMessageEnd(answeredBy) && grant.voicemailMessage) return { kind: 'message', text: grant.voicemailMessage };
      return { kind: 'hangup', reason: 'machine' };
    },

    async finish(start, outcome, reason) {
      if (outcome?.status === 'transferred' && outcome.transferTarget) {
        try {
          transfer = deps.api.redirect(start.callSid, dialTwiml(outcome.transferTarget));
          await transfer;
        } catch (error) {
          // Not transferred: closing the stream ends the call, and the record says why.
          await record({ source: 'server', dedupeKey: 'end', endReason: 'transfer_failed', error: (error as Error).message.slice(0, 200), details: { transferTo: outcome.transferTo ?? null } });
          throw error;
        }
        transferred = true;
        await record({ source: 'server', dedupeKey: 'end', endReason: 'transferred', details: { transferTo: outcome.transferTo ?? null } });
        return;
      }
      const endReason = reason === 'machine' ? 'machine' : outcome?.status === 'voicemail' ? 'voicemail_left' : 'agent_ended';
      await record({ source: 'server', dedupeKey: 'end', endReason, ...(outcome ? { details: { conversationStatus: outcome.status } } : {}) });
      await deps.api.hangUp(start.callSid, 'completed');
    },

    async closed(connection, summary) {
      // The stream may stop because the redirect took effect: wait for Twilio's answer (bounded by its timeout) to know.
      await transfer?.catch(() => undefined);
      const byApi = summary.start !== undefined && deps.calls.wasHungUpByApi(summary.start.callSid);
      deps.calls.remove(connection);
      if (!grant || summary.refused) return;
      // A transferred call goes on without us; Twilio's status callback ends its record.
      await record({
        source: 'stream',
        dedupeKey: 'stream:end',
        ...(transferred ? {} : { status: 'completed' }),
        endReason: byApi ? 'api_hangup' : END_REASONS[summary.endedBy],
        ...(summary.conversationId ? { conversationId: summary.conversationId } : {}),
      });
    },
  };
};
