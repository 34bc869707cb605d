import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { RealtimeClient, type TimedEvent } from '../../client/realtime-client.js';
import { decodeWav, encodeWav } from '../../audio/wav.js';
import { CliError, ExitCode } from '../exit-codes.js';

interface CallFlags {
  file: string;
  url: string;
  agent?: string;
  conversation?: string;
  out?: string;
  json?: boolean;
  apiKey?: string;
  waitMs: string;
}

const describe = (event: TimedEvent): string => {
  const at = `${(event.atMs / 1000).toFixed(3).padStart(8)}s`;
  switch (event.type) {
    case 'transcript':
      return `${at}  transcript${event.final ? '' : ' (partial)'}: ${event.text}`;
    case 'reply':
      return `${at}  reply${event.final ? '' : ' (streaming)'}: ${event.text}`;
    case 'error':
      return `${at}  error ${event.code}: ${event.message}`;
    case 'ready':
      return `${at}  ready: conversation ${event.conversationId}, output ${event.outputSampleRate} Hz`;
    default:
      return `${at}  ${event.type}`;
  }
};

export const registerCallCommand = (program: Command): void => {
  program
    .command('call')
    .description('talk to a running server over the realtime WebSocket with a WAV file, at real-time pace, printing events')
    .requiredOption('-f, --file <wav>', 'WAV file to say (any common rate)')
    .option('--url <url>', 'realtime endpoint', 'ws://127.0.0.1:8080/v1/realtime')
    .option('--agent <name>', 'agent for a new conversation')
    .option('--conversation <id>', 'continue this conversation')
    .option('-o, --out <wav>', 'write the agent’s audio to this WAV file')
    .option('--wait-ms <ms>', 'after the file, how long to wait for the reply to finish', '20000')
    .option('--api-key <key>', 'credentials: an API key (hk_…) or token; default $HARKEN_API_KEY')
    .option('--json', 'print events as JSON lines')
    .action(async (flags: CallFlags) => {
      let audio;
      try {
        audio = decodeWav(readFileSync(flags.file));
      } catch (error) {
        throw new CliError(`cannot read ${flags.file}: ${(error as Error).message}`, ExitCode.usage);
      }
      const credentials = flags.apiKey ?? process.env.HARKEN_API_KEY;
      const print = (event: TimedEvent) => process.stdout.write(`${flags.json ? JSON.stringify(event) : describe(event)}\n`);
      let client: RealtimeClient;
      try {
        client = await RealtimeClient.connect({
          url: flags.url,
          sampleRate: audio.sampleRate,
          onEvent: print,
          ...(credentials ? { credentials } : {}),
          ...(flags.agent ? { agent: flags.agent } : {}),
          ...(flags.conversation ? { conversationId: flags.conversation } : {}),
        });
      } catch (error) {
        throw new CliError(`cannot start a call at ${flags.url}: ${(error as Error).message}`);
      }
      // Let any greeting finish before speaking, as a polite caller would.
      await client.waitFor('audio_end', { timeoutMs: 15_000 }).catch(() => undefined);
      const before = client.events.length;
      await client.streamAudio(audio.samples);
      const deadline = Date.now() + Number(flags.waitMs);
      const finished = Promise.race([
        client.waitFor('audio_end', { after: before, timeoutMs: Number(flags.waitMs) }),
        client.waitFor('conversation_ended', { after: before, timeoutMs: Number(flags.waitMs) }),
        client.waitFor('error', { after: before, timeoutMs: Number(flags.waitMs) }),
      ]).catch(() => undefined);
      // Keep the line open with silence (end-of-turn detection needs it) until the reply is done.
      let done = false;
      void finished.then(() => {
        done = true;
      });
      while (!done && Date.now() < deadline) await client.streamSilence(100);
      await client.close();
      if (flags.out) writeFileSync(flags.out, encodeWav(client.receivedAudio));
      if (!client.events.some((event, index) => index >= before && event.type === 'reply')) {
        throw new CliError('the call ended without a reply from the agent');
      }
    });
};
