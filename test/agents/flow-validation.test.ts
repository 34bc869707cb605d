import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowError, loadFlowFile, validateFlow } from '../../src/agents/dialogue/load-flow.js';
import { createAgentRegistry } from '../../src/agents/registry.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const problemsOf = (document: unknown): readonly string[] => {
  try {
    validateFlow(document, 'test.yaml');
  } catch (error) {
    if (error instanceof FlowError) return error.problems;
    throw error;
  }
  throw new Error('expected a FlowError');
};

const minimal = () => ({
  id: 'survey',
  title: 'Survey',
  steps: [
    { id: 'likes', type: 'yesno', ask: 'Do you like it?', next: { yes: 'why', no: 'done' } },
    { id: 'why', type: 'text', ask: 'Why?' },
  ],
  endings: { done: { say: 'Thanks. {summary}', status: 'completed' } },
});

describe('dialogue flow validation', () => {
  const tempDir = useTempDirs();

  it('accepts a well-formed flow', () => {
    expect(validateFlow(minimal(), 'test.yaml').id).toBe('survey');
  });

  it('names dangling targets, bad branch keys and unknown placeholders', () => {
    const flow = minimal();
    flow.steps[0] = { id: 'likes', type: 'yesno', ask: 'Do you like {colour}?', next: { yes: 'why', maybe: 'nowhere' } as never };
    flow.endings.done.say = 'Bye {nobody}';
    expect(problemsOf(flow)).toEqual(
      expect.arrayContaining([
        'step likes: branch "maybe" is not an answer of this step (expected yes, no, default)',
        'step likes: branch maybe → "nowhere" is neither a step nor an ending',
        'ending done: {nobody} is not a step id',
        'step likes: {colour} is not a step id',
      ]),
    );
  });

  it('rejects duplicate ids, choice steps without options, branching text steps and an active ending', () => {
    const flow = {
      ...minimal(),
      steps: [
        { id: 'a', type: 'text', ask: 'A?', next: { yes: 'b' } },
        { id: 'a', type: 'choice', ask: 'B?' },
        { id: 'b', type: 'date', ask: 'When?', max: 'tomorrow' },
      ],
      endings: { done: { say: 'Bye', status: 'active' } },
    };
    expect(problemsOf(flow)).toEqual(
      expect.arrayContaining([
        'step a: id used twice',
        'step a: a choice step needs options',
        'step a: only yesno and choice steps can branch; use a single next',
        'step b: max must be a date YYYY-MM-DD or "today"',
        'ending done: status "active" would never end the conversation',
      ]),
    );
  });

  it('reports schema errors with the path of the bad field', () => {
    const problems = problemsOf({ ...minimal(), steps: [{ id: 'x', type: 'colour', ask: 'Hm?' }] });
    expect(problems.some((problem) => problem.startsWith('steps.0.type'))).toBe(true);
    expect(problemsOf({ title: 'No id', steps: [], endings: {} }).join('\n')).toMatch(/id/);
  });

  it('names the file when a flow cannot be read or parsed', () => {
    const dir = tempDir();
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'id: [oops');
    expect(() => loadFlowFile(file)).toThrow(/invalid dialogue flow .*broken\.yaml[\s\S]*cannot parse/);
    expect(() => loadFlowFile(join(dir, 'absent.yaml'))).toThrow(/file not found/);
  });

  it('loads user flows from a directory next to the built-in ones and checks the default agent exists', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'survey.json'), JSON.stringify(minimal()));
    const registry = createAgentRegistry({ defaultAgent: 'survey', flowsDir: dir });
    expect(registry.names()).toEqual(['echo', 'intake', 'survey']);
    expect(() => createAgentRegistry({ defaultAgent: 'missing' })).toThrow(/no agent named "missing"; known agents: echo, intake/);
    writeFileSync(join(dir, 'again.yaml'), JSON.stringify(minimal()));
    expect(() => createAgentRegistry({ defaultAgent: 'intake', flowsDir: dir })).toThrow(/id "survey" is already used by/);
  });
});
