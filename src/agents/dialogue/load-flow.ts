import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { fromIsoDate } from './answers/dates.js';
import { FlowSchema, type FlowDefinition, type FlowStep } from './flow.js';
import { placeholdersOf } from './templates.js';

export class FlowError extends Error {
  constructor(readonly source: string, readonly problems: readonly string[]) {
    super(`invalid dialogue flow ${source}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'FlowError';
  }
}

const SUMMARY_PLACEHOLDER = 'summary';

const checkDateBound = (step: FlowStep, name: 'min' | 'max', problems: string[]): void => {
  const bound = step[name];
  if (bound === undefined) return;
  if (bound !== 'today' && (typeof bound !== 'string' || !fromIsoDate(bound))) {
    problems.push(`step ${step.id}: ${name} must be a date YYYY-MM-DD or "today"`);
  }
};

const branchKeysFor = (step: FlowStep): readonly string[] | undefined => {
  if (step.type === 'yesno') return ['yes', 'no'];
  if (step.type === 'choice') return (step.options ?? []).map((option) => option.value);
  return undefined;
};

/** The cross-references JSON Schema cannot express: targets exist, templates name real steps. */
const semanticProblems = (flow: FlowDefinition): string[] => {
  const problems: string[] = [];
  const stepIds = new Set<string>();
  for (const step of flow.steps) {
    if (stepIds.has(step.id)) problems.push(`step ${step.id}: id used twice`);
    stepIds.add(step.id);
  }
  const endingNames = Object.keys(flow.endings);
  if (endingNames.length === 0) problems.push('endings: at least one ending is needed');
  for (const name of endingNames) if (stepIds.has(name)) problems.push(`ending ${name}: a step has the same id`);
  const isTarget = (target: string) => stepIds.has(target) || target in flow.endings;

  for (const step of flow.steps) {
    if (step.type === 'choice' && !step.options) problems.push(`step ${step.id}: a choice step needs options`);
    if (step.type !== 'choice' && step.options) problems.push(`step ${step.id}: options are only for choice steps`);
    if (step.type === 'date') {
      checkDateBound(step, 'min', problems);
      checkDateBound(step, 'max', problems);
    } else if (step.type === 'number') {
      for (const name of ['min', 'max'] as const) {
        if (step[name] !== undefined && typeof step[name] !== 'number') problems.push(`step ${step.id}: ${name} must be a number`);
      }
    } else if (step.min !== undefined || step.max !== undefined) {
      problems.push(`step ${step.id}: min/max apply only to number and date steps`);
    }
    if (typeof step.next === 'string') {
      if (!isTarget(step.next)) problems.push(`step ${step.id}: next "${step.next}" is neither a step nor an ending`);
    } else if (step.next) {
      const allowed = branchKeysFor(step);
      if (!allowed) problems.push(`step ${step.id}: only yesno and choice steps can branch; use a single next`);
      for (const [answer, target] of Object.entries(step.next)) {
        if (allowed && answer !== 'default' && !allowed.includes(answer)) {
          problems.push(`step ${step.id}: branch "${answer}" is not an answer of this step (expected ${[...allowed, 'default'].join(', ')})`);
        }
        if (!isTarget(target)) problems.push(`step ${step.id}: branch ${answer} → "${target}" is neither a step nor an ending`);
      }
    }
  }
  for (const [name, ending] of Object.entries(flow.endings)) {
    if (ending.status === 'active') problems.push(`ending ${name}: status "active" would never end the conversation`);
    for (const placeholder of placeholdersOf(ending.say)) {
      if (placeholder !== SUMMARY_PLACEHOLDER && !stepIds.has(placeholder)) problems.push(`ending ${name}: {${placeholder}} is not a step id`);
    }
  }
  for (const step of flow.steps) {
    for (const text of [step.ask, step.reask ?? '']) {
      for (const placeholder of placeholdersOf(text)) {
        if (!stepIds.has(placeholder)) problems.push(`step ${step.id}: {${placeholder}} is not a step id`);
      }
    }
  }
  if (flow.giveUp !== undefined && !(flow.giveUp in flow.endings)) problems.push(`giveUp: "${flow.giveUp}" is not an ending`);
  return problems;
};

/** Validates an already-parsed flow document. */
/** Schema violations of an agent file, as "path: message" lines. */
export const schemaProblems = (schema: TSchema, document: unknown): string[] => {
  const problems = [...Value.Errors(schema, document)]
    .filter((error) => error.keyword !== 'anyOf' && error.keyword !== 'boolean')
    .map((error) => `${error.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(top level)'}: ${error.message}`);
  return [...new Set(problems)].slice(0, 20);
};

export const validateFlow = (document: unknown, source: string): FlowDefinition => {
  if (!Value.Check(FlowSchema, document)) throw new FlowError(source, schemaProblems(FlowSchema, document));
  const problems = semanticProblems(document);
  if (problems.length > 0) throw new FlowError(source, problems);
  return document;
};

/** Reads and parses an agent file (YAML, or JSON by extension); problems name the file. */
export const readAgentDocument = (path: string): unknown => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FlowError(path, [(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message]);
  }
  let document: unknown;
  try {
    document = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new FlowError(path, [`cannot parse: ${(error as Error).message.split('\n')[0]}`]);
  }
  return document;
};

export const loadFlowFile = (path: string): FlowDefinition => validateFlow(readAgentDocument(path), path);
