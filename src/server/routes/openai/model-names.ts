import type { TextToSpeech } from '../../../engines/tts/text-to-speech.js';

/**
 * Model names OpenAI clients send unchanged. Each maps to the one configured engine of its kind:
 * a client written for OpenAI runs against Harken with only its base URL changed.
 */
export const TRANSCRIPTION_MODELS = ['whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe'] as const;
export const SPEECH_MODELS = ['tts-1', 'tts-1-hd', 'gpt-4o-mini-tts'] as const;
/** OpenAI's voice names, as its speech and realtime APIs take them. */
export const OPENAI_VOICES = ['alloy', 'ash', 'ballad', 'coral', 'echo', 'fable', 'nova', 'onyx', 'sage', 'shimmer', 'verse', 'marin', 'cedar'] as const;

/** Flite's voices standing in for OpenAI's: the women's to slt, the men's to rms, awb and kal16. */
const FLITE_ALIASES: Readonly<Record<string, string>> = {
  alloy: 'slt',
  ash: 'rms',
  ballad: 'awb',
  coral: 'slt',
  echo: 'rms',
  fable: 'awb',
  nova: 'slt',
  onyx: 'kal16',
  sage: 'slt',
  shimmer: 'slt',
  verse: 'kal16',
  marin: 'slt',
  cedar: 'awb',
};

/** `alloy=slt, echo=rms` → a map; a malformed entry or a voice the engine lacks is an error naming it. */
export const parseVoiceAliases = (setting: string, engine: Pick<TextToSpeech, 'name' | 'capabilities'>): Map<string, string> => {
  const aliases = new Map<string, string>();
  if (setting.trim() === '' && engine.name === 'flite') return new Map(Object.entries(FLITE_ALIASES));
  for (const entry of setting.split(',').map((part) => part.trim()).filter(Boolean)) {
    const [alias, voice, ...rest] = entry.split('=').map((part) => part.trim());
    if (!alias || !voice || rest.length > 0) throw new Error(`tts.voiceAliases: "${entry}" is not name=voice`);
    if (!engine.capabilities.voices.includes(voice)) throw new Error(`tts.voiceAliases: ${engine.name} has no voice "${voice}" (voices: ${engine.capabilities.voices.join(', ')})`);
    aliases.set(alias, voice);
  }
  return aliases;
};

/**
 * The engine voice for a name a client sent: an alias, one of the engine's own voices, or (an
 * OpenAI voice without an alias) the default voice. Undefined: no such voice.
 */
export const resolveVoice = (name: string, aliases: ReadonlyMap<string, string>, engine: Pick<TextToSpeech, 'capabilities'>, defaultVoice: string | undefined): string | undefined => {
  const alias = aliases.get(name);
  if (alias) return alias;
  if (engine.capabilities.voices.includes(name)) return name;
  if ((OPENAI_VOICES as readonly string[]).includes(name)) return defaultVoice ?? engine.capabilities.voices[0];
  return undefined;
};
