import twilio from 'twilio';

const build = (fill: (response: twilio.twiml.VoiceResponse) => void): string => {
  const response = new twilio.twiml.VoiceResponse();
  fill(response);
  return response.toString();
};

/** `<Connect><Stream>` to the media stream, with the one-time token and agent as `<Parameter>`s (no query string: Twilio drops them). */
export const streamTwiml = (streamUrl: string, token: string, agent: string): string =>
  build((response) => {
    const stream = response.connect().stream({ url: streamUrl });
    stream.parameter({ name: 'token', value: token });
    stream.parameter({ name: 'agent', value: agent });
  });

export const rejectTwiml = (reason: 'busy' | 'rejected'): string => build((response) => response.reject({ reason }));

/** A transfer: `<Dial>` the target, a phone number or a `sip:` URI. */
export const dialTwiml = (target: string): string =>
  build((response) => {
    const dial = response.dial();
    if (/^sips?:/i.test(target)) dial.sip(target);
    else dial.number(target);
  });
