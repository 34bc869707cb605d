import { ConfigError } from '../../config/load.js';
import type { HarkenConfig } from '../../config/schema.js';

/** With twilio.enabled, the credentials and public URL must be usable: one clear line per problem at start. */
export const checkTwilioSettings = (config: HarkenConfig): void => {
  const { twilio } = config;
  if (!twilio.enabled) return;
  const problems: Array<{ setting: string; source: string; message: string }> = [];
  if (!/^AC[0-9a-fA-F]{32}$/.test(twilio.accountSid)) problems.push({ setting: 'twilio.accountSid', source: 'HARKEN_TWILIO_ACCOUNT_SID', message: 'must be your Twilio account SID (AC followed by 32 hex digits)' });
  if (!twilio.authToken) problems.push({ setting: 'twilio.authToken', source: 'HARKEN_TWILIO_AUTH_TOKEN', message: 'is required to validate Twilio signatures (Console → Account → API keys & tokens)' });
  let url: URL | undefined;
  try {
    url = new URL(twilio.publicUrl);
  } catch {
    problems.push({ setting: 'twilio.publicUrl', source: 'HARKEN_TWILIO_PUBLIC_URL', message: 'must be the URL Twilio reaches this server at, e.g. https://voice.example.com' });
  }
  if (url && (url.search || url.hash)) problems.push({ setting: 'twilio.publicUrl', source: 'HARKEN_TWILIO_PUBLIC_URL', message: 'must not have a query string or fragment' });
  if (url && url.protocol !== 'https:' && (config.server.environment === 'production' || url.protocol !== 'http:')) {
    problems.push({ setting: 'twilio.publicUrl', source: 'HARKEN_TWILIO_PUBLIC_URL', message: 'must be https (Twilio only streams media to wss://); plain http is accepted in development only' });
  }
  try {
    if (!/^https?:$/.test(new URL(twilio.apiBaseUrl).protocol)) throw new Error('not http(s)');
  } catch {
    problems.push({ setting: 'twilio.apiBaseUrl', source: 'HARKEN_TWILIO_API_BASE_URL', message: 'must be an http(s) URL (default https://api.twilio.com)' });
  }
  if (!config.voice.enabled) problems.push({ setting: 'voice.enabled', source: 'HARKEN_VOICE_ENABLED', message: 'phone calls need the voice engines (twilio.enabled is set)' });
  if (problems.length > 0) throw new ConfigError(problems);
};
