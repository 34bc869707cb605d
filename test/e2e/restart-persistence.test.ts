import { describe, expect, it } from 'vitest';
import { runCli, startCliServer } from '../helpers/cli.js';
import { useTempDirs } from '../helpers/temp-dir.js';

let apiKey = '';

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};

describe('a conversation survives a real server restart', () => {
  const tempDir = useTempDirs();

  it('continues the questionnaire with its history after SIGTERM and a fresh start', async () => {
    const cwd = tempDir();
    const keyCreation = runCli(['keys', 'create', '--name', 'restart test', '--scopes', 'conversations', '--json'], { cwd });
    expect(keyCreation.status).toBe(0);
    apiKey = (JSON.parse(keyCreation.stdout) as { key: string }).key;
    const first = await startCliServer({ cwd });
    const created = await post(`${first.url}/v1/conversations`, {});
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await post(`${first.url}/v1/conversations/${id}/messages`, { text: 'Maria Garcia' })).body.reply.text).toBe('What is your date of birth?');
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.stdout()).toContain('shutdown complete');

    const second = await startCliServer({ cwd });
    try {
      const next = await post(`${second.url}/v1/conversations/${id}/messages`, { text: 'July 4th 1990' });
      expect(next.status).toBe(200);
      expect(next.body.reply.text).toBe('What symptoms bring you in today?');
      expect(next.body.conversation.data).toEqual({ name: 'Maria Garcia', dateOfBirth: '1990-07-04' });

      const history = (await (await fetch(`${second.url}/v1/conversations/${id}`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { messages: Array<{ role: string; text: string }> };
      expect(history.messages.map((message) => message.role)).toEqual(['assistant', 'user', 'assistant', 'user', 'assistant']);
      expect(history.messages[1]?.text).toBe('Maria Garcia');
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
  });
});
