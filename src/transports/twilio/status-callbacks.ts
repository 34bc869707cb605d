import type { CallChange } from '../../store/calls.js';

/** What Twilio posts to a statusCallback (call progress) or asyncAmdStatusCallback (AMD verdict). */
export type StatusCallback =
  /** `answeredBy`: status callbacks of calls placed with detection carry the verdict too. */
  | { readonly kind: 'status'; readonly callSid: string; readonly answeredBy?: string; readonly change: CallChange }
  | { readonly kind: 'machine'; readonly callSid: string; readonly answeredBy: string; readonly change: CallChange };

const SID = /^CA[0-9a-fA-F]{32}$/;
const STATUS = /^[a-z-]{1,20}$/;
const ANSWERED_BY = /^[a-z_]{1,30}$/;

const integer = (value: string | undefined): number | undefined => (value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : undefined);

/**
 * Reads one signed callback into a change of the call record. The dedupe key is what stays the
 * same when Twilio retries the same callback (status and sequence number, or the AMD verdict),
 * so a retry changes nothing. Undefined: not a callback this server understands.
 */
export const readStatusCallback = (params: Readonly<Record<string, string>>): StatusCallback | undefined => {
  const callSid = params.CallSid ?? '';
  if (!SID.test(callSid)) return undefined;
  const answeredBy = params.AnsweredBy;
  if (answeredBy !== undefined && !ANSWERED_BY.test(answeredBy)) return undefined;
  // The answering-machine callback has no CallStatus; a status callback with AnsweredBy is still a status.
  if (answeredBy !== undefined && params.CallStatus === undefined) {
    const detectionMs = integer(params.MachineDetectionDuration);
    return {
      kind: 'machine',
      callSid,
      answeredBy,
      change: { source: 'twilio', dedupeKey: `amd:${answeredBy}`, answeredBy, details: { callback: 'amd', ...(detectionMs !== undefined ? { machineDetectionMs: detectionMs } : {}) } },
    };
  }
  const status = params.CallStatus ?? '';
  if (!STATUS.test(status)) return undefined;
  const sequence = integer(params.SequenceNumber);
  const durationS = integer(params.CallDuration);
  const errorCode = integer(params.ErrorCode);
  return {
    kind: 'status',
    callSid,
    ...(answeredBy !== undefined ? { answeredBy } : {}),
    change: {
      source: 'twilio',
      dedupeKey: `status:${status}:${sequence ?? ''}`,
      status,
      ...(answeredBy !== undefined ? { answeredBy } : {}),
      ...(durationS !== undefined && status === 'completed' ? { durationS } : {}),
      ...(errorCode !== undefined ? { error: `Twilio error ${errorCode}` } : {}),
      details: {
        callback: params.CallbackSource ?? 'call-progress-events',
        ...(sequence !== undefined ? { sequenceNumber: sequence } : {}),
        ...(params.SipResponseCode ? { sipResponseCode: params.SipResponseCode.slice(0, 3) } : {}),
      },
    },
  };
};
