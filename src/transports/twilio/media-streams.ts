/**
 * Twilio Media Streams, bidirectional (`<Connect><Stream>`): the messages Twilio sends and the
 * three Harken sends back. Audio is base64 μ-law at 8 kHz, mono, in both directions.
 * https://www.twilio.com/docs/voice/media-streams/websocket-messages
 */

export interface StreamStart {
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string;
  readonly tracks: readonly string[];
  readonly customParameters: Readonly<Record<string, string>>;
  readonly mediaFormat: { readonly encoding: string; readonly sampleRate: number; readonly channels: number };
}

export type TwilioMessage =
  | { readonly event: 'connected'; readonly protocol: string; readonly version: string }
  | { readonly event: 'start'; readonly sequenceNumber: string; readonly streamSid: string; readonly start: StreamStart }
  | { readonly event: 'media'; readonly sequenceNumber: string; readonly streamSid: string; readonly media: { readonly track: string; readonly chunk: string; readonly timestamp: string; readonly payload: string } }
  | { readonly event: 'mark'; readonly sequenceNumber: string; readonly streamSid: string; readonly mark: { readonly name: string } }
  | { readonly event: 'dtmf'; readonly sequenceNumber: string; readonly streamSid: string; readonly dtmf: { readonly track: string; readonly digit: string } }
  | { readonly event: 'stop'; readonly sequenceNumber: string; readonly streamSid: string; readonly stop: { readonly accountSid: string; readonly callSid: string } }
  /** An event this version does not know (Twilio may add some): ignored, never fatal to a live call. */
  | { readonly event: 'unknown'; readonly name: string };

/** A message Twilio would never send: the stream is closed (Twilio's side is broken or it is not Twilio). */
export class MediaStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaStreamError';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown, what: string): string => {
  if (typeof value !== 'string') throw new MediaStreamError(`${what} must be a string`);
  return value;
};

const DIGIT = /^[0-9*#A-D]$/;

/** Parses one text frame from Twilio; anything malformed is a MediaStreamError naming the field. */
export const parseTwilioMessage = (raw: string): TwilioMessage => {
  let message: unknown;
  try {
    message = JSON.parse(raw);
  } catch {
    throw new MediaStreamError('message is not JSON');
  }
  if (!isObject(message)) throw new MediaStreamError('message must be a JSON object');
  switch (message.event) {
    case 'connected':
      return { event: 'connected', protocol: text(message.protocol, 'protocol'), version: text(message.version, 'version') };
    case 'start': {
      const start = message.start;
      if (!isObject(start)) throw new MediaStreamError('start must be an object');
      const format = start.mediaFormat;
      if (!isObject(format) || typeof format.sampleRate !== 'number' || typeof format.channels !== 'number') throw new MediaStreamError('start.mediaFormat must give encoding, sampleRate and channels');
      const params = isObject(start.customParameters) ? start.customParameters : {};
      const customParameters = Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
      return {
        event: 'start',
        sequenceNumber: text(message.sequenceNumber, 'sequenceNumber'),
        streamSid: text(message.streamSid, 'streamSid'),
        start: {
          streamSid: text(start.streamSid, 'start.streamSid'),
          callSid: text(start.callSid, 'start.callSid'),
          accountSid: text(start.accountSid, 'start.accountSid'),
          tracks: Array.isArray(start.tracks) ? start.tracks.filter((track): track is string => typeof track === 'string') : [],
          customParameters,
          mediaFormat: { encoding: text(format.encoding, 'start.mediaFormat.encoding'), sampleRate: format.sampleRate, channels: format.channels },
        },
      };
    }
    case 'media': {
      const media = message.media;
      if (!isObject(media)) throw new MediaStreamError('media must be an object');
      return {
        event: 'media',
        sequenceNumber: text(message.sequenceNumber, 'sequenceNumber'),
        streamSid: text(message.streamSid, 'streamSid'),
        media: { track: text(media.track, 'media.track'), chunk: text(media.chunk, 'media.chunk'), timestamp: text(media.timestamp, 'media.timestamp'), payload: text(media.payload, 'media.payload') },
      };
    }
    case 'mark': {
      const mark = message.mark;
      if (!isObject(mark)) throw new MediaStreamError('mark must be an object');
      return { event: 'mark', sequenceNumber: text(message.sequenceNumber, 'sequenceNumber'), streamSid: text(message.streamSid, 'streamSid'), mark: { name: text(mark.name, 'mark.name') } };
    }
    case 'dtmf': {
      const dtmf = message.dtmf;
      if (!isObject(dtmf)) throw new MediaStreamError('dtmf must be an object');
      const digit = text(dtmf.digit, 'dtmf.digit');
      if (!DIGIT.test(digit)) throw new MediaStreamError('dtmf.digit must be one key (0-9, *, #, A-D)');
      return { event: 'dtmf', sequenceNumber: text(message.sequenceNumber, 'sequenceNumber'), streamSid: text(message.streamSid, 'streamSid'), dtmf: { track: text(dtmf.track, 'dtmf.track'), digit } };
    }
    case 'stop': {
      const stop = isObject(message.stop) ? message.stop : {};
      return {
        event: 'stop',
        sequenceNumber: text(message.sequenceNumber, 'sequenceNumber'),
        streamSid: text(message.streamSid, 'streamSid'),
        stop: { accountSid: typeof stop.accountSid === 'string' ? stop.accountSid : '', callSid: typeof stop.callSid === 'string' ? stop.callSid : '' },
      };
    }
    default:
      if (typeof message.event !== 'string') throw new MediaStreamError('event must be a string');
      return { event: 'unknown', name: message.event.slice(0, 40) };
  }
};

/** What Harken sends: audio, a named mark after it, or `clear` (drop the audio Twilio still buffers). */
export const mediaMessage = (streamSid: string, payload: Buffer): string => JSON.stringify({ event: 'media', streamSid, media: { payload: payload.toString('base64') } });
export const markMessage = (streamSid: string, name: string): string => JSON.stringify({ event: 'mark', streamSid, mark: { name } });
export const clearMessage = (streamSid: string): string => JSON.stringify({ event: 'clear', streamSid });
