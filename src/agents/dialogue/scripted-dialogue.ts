import type { Agent, AgentContext, AgentEvent, AnswerExpectation } from '../agent.js';
import type { JsonObject } from '../../store/conversations.js';
import { displayAnswer, interpretAnswer } from './answers/interpret.js';
import type { CalendarDate } from './answers/dates.js';
import { containsPhrase, tokenize } from './answers/words.js';
import type { FlowDefinition, FlowStep } from './flow.js';
import { renderTemplate } from './templates.js';

/** Where the caller is in the flow; stored as the conversation's agent state. */
interface DialogueState {
  readonly step: string;
  /** Answers to the current step that did not fit. */
  readonly attempts: number;
}

const DEFAULT_MAX_ATTEMPTS = 3;
const REPEAT_REQUESTS = ['repeat', 'say that again', 'say again', 'pardon', 'come again', "what's the question", 'what was the question'];

const isRepeatRequest = (text: string): boolean => {
  const words = tokenize(text);
  return words.length <= 5 && REPEAT_REQUESTS.some((phrase) => containsPhrase(words, phrase));
};

const expectationFor = (step: FlowStep): AnswerExpectation => {
  switch (step.type) {
    case 'choice':
      return { type: 'choice', options: (step.options ?? []).map((option) => option.label) };
    case 'number':
      return {
        type: 'number',
        ...(typeof step.min === 'number' ? { min: step.min } : {}),
        ...(typeof step.max === 'number' ? { max: step.max } : {}),
      };
    default:
      return { type: step.type };
  }
};

const readState = (state: JsonObject): DialogueState | undefined =>
  typeof state.step === 'string' && typeof state.attempts === 'number' ? { step: state.step, attempts: state.attempts } : undefined;

const todayUtc = (now: Date): CalendarDate => ({ year: now.getUTCFullYear(), month: now.getUTCMonth() + 1, day: now.getUTCDate() });

/**
 * Runs a declarative questionnaire: asks each step's question, checks the answer
 * against the step's type, re-asks on a bad answer, branches, and ends with a
 * spoken summary. Answers are returned as structured data for the conversation.
 */
export class ScriptedDialogueAgent implements Agent {
  readonly name: string;
  readonly description: string;
  private readonly steps: ReadonlyMap<string, FlowStep>;

  constructor(private readonly flow: FlowDefinition, private readonly now: () => Date = () => new Date()) {
    this.name = flow.id;
    this.description = flow.description ?? flow.title;
    this.steps = new Map(flow.steps.map((step) => [step.id, step]));
  }

  /** The greeting and every question and re-ask without placeholders (those depend on the caller's answers). */
  prompts(): readonly string[] {
    const first = this.flow.steps[0] as FlowStep;
    const texts = [this.flow.greeting ? `${this.flow.greeting} ${first.ask}` : first.ask, ...this.flow.steps.flatMap((step) => [step.ask, ...(step.reask ? [step.reask] : [])])];
    return texts.filter((text) => !text.includes('{'));
  }

  async *begin(context: AgentContext): AsyncIterable<AgentEvent> {
    const first = this.flow.steps[0] as FlowStep;
    const greeting = this.flow.greeting ? `${this.flow.greeting} ` : '';
    yield { type: 'text', text: greeting + this.render(first.ask, context.data) };
    yield { type: 'done', state: { step: first.id, attempts: 0 }, data: context.data, status: 'active', expect: expectationFor(first) };
  }

  async *respond(context: AgentContext, userText: string): AsyncIterable<AgentEvent> {
    const state = readState(context.state);
    const step = state ? this.steps.get(state.step) : undefined;
    if (!state || !step) {
      // The flow file changed under a live conversation; do not guess where to resume.
      yield { type: 'text', text: 'Sorry, this questionnaire has changed since we started. Please start a new conversation.' };
      yield { type: 'done', state: context.state, data: context.data, status: 'abandoned' };
      return;
    }
    if (isRepeatRequest(userText)) {
      yield { type: 'text', text: this.render(step.ask, context.data) };
      yield { type: 'done', state: { ...state }, data: context.data, status: 'active', expect: expectationFor(step) };
      return;
    }

    const answer = interpretAnswer(step, userText, { today: todayUtc(this.now()), dateOrder: this.flow.dateOrder ?? 'mdy' });
    if (answer.ok) {
      yield* this.advance(step, { ...context.data, [step.id]: answer.value }, answer.value);
      return;
    }

    const attempts = state.attempts + 1;
    if (attempts >= (this.flow.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) {
      if (step.required === false) {
        yield* this.advance(step, { ...context.data, [step.id]: null }, null);
        return;
      }
      if (this.flow.giveUp) {
        yield* this.finish(this.flow.giveUp, context.data);
        return;
      }
    }
    const lead = step.reask ? this.render(step.reask, context.data) : answer.problem;
    yield { type: 'text', text: `${lead} ${this.render(step.ask, context.data)}` };
    yield { type: 'done', state: { step: step.id, attempts }, data: context.data, status: 'active', expect: expectationFor(step) };
  }

  private async *advance(step: FlowStep, data: JsonObject, value: unknown): AsyncIterable<AgentEvent> {
    const target = this.nextTarget(step, value);
    if (target === undefined || target in this.flow.endings) {
      yield* this.finish(target ?? (Object.keys(this.flow.endings)[0] as string), data);
      return;
    }
    const next = this.steps.get(target) as FlowStep;
    yield { type: 'text', text: this.render(next.ask, data) };
    yield { type: 'done', state: { step: next.id, attempts: 0 }, data, status: 'active', expect: expectationFor(next) };
  }

  private async *finish(endingName: string, data: JsonObject): AsyncIterable<AgentEvent> {
    const ending = this.flow.endings[endingName];
    if (!ending) throw new Error(`flow ${this.flow.id}: unknown ending ${endingName}`);
    yield { type: 'text', text: this.render(ending.say, data) };
    yield { type: 'done', state: { step: null, ending: endingName }, data, status: ending.status };
  }

  /** The explicit branch for this answer, else the step's single next, else the following step. */
  private nextTarget(step: FlowStep, value: unknown): string | undefined {
    if (typeof step.next === 'string') return step.next;
    if (step.next) {
      const key = typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
      const branch = step.next[key] ?? step.next.default;
      if (branch) return branch;
    }
    const index = this.flow.steps.indexOf(step);
    return this.flow.steps[index + 1]?.id;
  }

  private render(template: string, data: JsonObject): string {
    return renderTemplate(template, (name) => (name === 'summary' ? this.summary(data) : this.display(name, data)));
  }

  private display(stepId: string, data: JsonObject): string {
    const step = this.steps.get(stepId);
    const value = data[stepId];
    if (!step) return '';
    if (value === undefined || value === null) return step.whenSkipped ?? '';
    return displayAnswer(step, value);
  }

  /** "Name: Jane Doe. Date of birth: March 5, 1982. …" over the labelled steps. */
  private summary(data: JsonObject): string {
    return this.flow.steps
      .filter((step) => step.label !== undefined)
      .map((step) => ({ label: step.label as string, text: this.display(step.id, data) }))
      .filter((line) => line.text !== '')
      .map((line) => `${line.label}: ${line.text.replace(/[.!?]+$/, '')}.`)
      .join(' ');
  }
}
