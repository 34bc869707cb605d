import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

describe('a conversation whose agent was removed from the configuration', () => {
  const tempDir = useTempDirs();

  it('stays readable but refuses new turns with 409 agent_unavailable', async () => {
    const dataDir = tempDir();
    const flowsDir = tempDir();
    writeFileSync(
      join(flowsDir, 'survey.yaml'),
      'id: survey\ntitle: Survey\nsteps:\n  - { id: likes, type: yesno, ask: Do you like it? }\nendings:\n  done: { say: Thanks., status: completed }\n',
    );
    const withFlow = await startTestServer(dataDir, { HARKEN_AGENTS_FLOWS_DIR: flowsDir });
    const created = await withFlow.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'survey' } });
    expect(created.json().reply.text).toBe('Do you like it?');
    const id = created.json().id as string;
    await withFlow.harken.close();

    const without = await startTestServer(dataDir);
    try {
      const turn = await without.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text: 'yes' } });
      expect(turn.statusCode).toBe(409);
      expect(turn.json().error).toEqual({ code: 'agent_unavailable', message: 'this conversation\'s agent "survey" is no longer configured on this server' });
      expect((await without.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json().messages).toHaveLength(1);
    } finally {
      await without.harken.close();
    }
  });
});
