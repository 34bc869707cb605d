import twilio from 'twilio';
import type { HarkenConfig } from '../../config/schema.js';

/** A call Twilio accepted. */
export interface PlacedCall {
  readonly sid: string;
  readonly status: string;
}

export interface PlaceCallRequest {
  readonly to: string;
  readonly from: string;
  readonly twiml: string;
  readonly statusCallback: string;
  readonly ringTimeoutS: number;
  /** Twilio AMD mode; with it the result is posted to statusCallback asynchronously. */
  readonly machineDetection?: 'Enable' | 'DetectMessageEnd';
  readonly machineDetectionTimeoutS?: number;
}

/** Twilio's REST error, reduced to what is safe to show a caller and log: status, code, message. */
export class TwilioApiError extends Error {
  constructor(readonly status: number | undefined, readonly code: number | undefined, message: string) {
    super(message);
    this.name = 'TwilioApiError';
  }
}

const REQUEST_TIMEOUT_MS = 10_000;

const wrap = async <T>(work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } catch (error) {
    const failure = error as { status?: number; code?: number | string; message?: string };
    // Network failures carry a string code (ECONNREFUSED…); Twilio's own errors a number.
    const code = typeof failure.code === 'number' ? failure.code : undefined;
    const message = typeof failure.code === 'string' ? `Twilio API unreachable (${failure.code})` : (failure.message ?? 'Twilio API request failed');
    throw new TwilioApiError(failure.status, code, message);
  }
};

/**
 * The Twilio REST calls Harken makes, through the official SDK: place a call, hang one up,
 * redirect one to new TwiML (a transfer). Requests time out after 10 s and are retried on 429.
 */
export class TwilioApi {
  private readonly client: twilio.Twilio;

  constructor(config: HarkenConfig) {
    this.client = twilio(config.twilio.accountSid, config.twilio.authToken, { accountSid: config.twilio.accountSid, timeout: REQUEST_TIMEOUT_MS, autoRetry: true, maxRetries: 3 });
    // The SDK's REST domain; pointing it elsewhere serves a proxy or a local stand-in for tests.
    this.client.api.baseUrl = config.twilio.apiBaseUrl.replace(/\/+$/, '');
  }

  placeCall(request: PlaceCallRequest): Promise<PlacedCall> {
    return wrap(async () => {
      const call = await this.client.calls.create({
        to: request.to,
        from: request.from,
        twiml: request.twiml,
        timeout: request.ringTimeoutS,
        statusCallback: request.statusCallback,
        statusCallbackMethod: 'POST',
        statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        ...(request.machineDetection
          ? {
              machineDetection: request.machineDetection,
              machineDetectionTimeout: request.machineDetectionTimeoutS ?? 30,
              asyncAmd: 'true',
              asyncAmdStatusCallback: request.statusCallback,
              asyncAmdStatusCallbackMethod: 'POST',
            }
          : {}),
      });
      return { sid: call.sid, status: call.status };
    });
  }

  /** Ends a call: `completed` hangs up an answered call, `canceled` stops one still queued or ringing. */
  async hangUp(callSid: string, status: 'completed' | 'canceled' = 'completed'): Promise<string> {
    return wrap(async () => (await this.client.calls(callSid).update({ status })).status);
  }

  /** Replaces what the call is doing with new TwiML (e.g. `<Dial>` for a transfer). */
  async redirect(callSid: string, twiml: string): Promise<string> {
    return wrap(async () => (await this.client.calls(callSid).update({ twiml })).status);
  }
}
