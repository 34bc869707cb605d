import { Type, type Static } from 'typebox';

/**
 * The declarative format of a scripted dialogue (a questionnaire). A flow is a
 * list of questions, each with an expected answer type, and named endings.
 * Documented for users in docs/flows.md; `flows/healthcare-intake.yaml` is the example.
 */
const Identifier = Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]*$', description: 'Letters, digits and _; starts with a letter.' });

export const ChoiceOptionSchema = Type.Object(
  {
    value: Identifier,
    label: Type.String({ minLength: 1 }),
    synonyms: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

export const StepSchema = Type.Object(
  {
    id: Identifier,
    type: Type.Union([Type.Literal('text'), Type.Literal('yesno'), Type.Literal('number'), Type.Literal('date'), Type.Literal('choice')]),
    ask: Type.String({ minLength: 1, description: 'The question, as spoken.' }),
    reask: Type.Optional(Type.String({ minLength: 1, description: 'Said before repeating the question after an answer that did not fit.' })),
    label: Type.Optional(Type.String({ minLength: 1, description: 'Name of the answer in the summary; steps without a label are left out of it.' })),
    whenSkipped: Type.Optional(Type.String({ description: 'Shown in the summary when the step was not asked or not answered.' })),
    required: Type.Optional(Type.Boolean({ description: 'A required step that is never answered ends the flow with `giveUp`; an optional one is skipped.' })),
    next: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Record(Type.String(), Type.String({ minLength: 1 }))], {
        description: 'Step or ending to go to next; for yesno/choice steps a map from answer (yes/no/option value/default) to target.',
      }),
    ),
    minLength: Type.Optional(Type.Integer({ minimum: 0 })),
    maxLength: Type.Optional(Type.Integer({ minimum: 1 })),
    min: Type.Optional(Type.Union([Type.Number(), Type.String()], { description: 'number: lowest value; date: earliest date (YYYY-MM-DD or "today").' })),
    max: Type.Optional(Type.Union([Type.Number(), Type.String()], { description: 'number: highest value; date: latest date (YYYY-MM-DD or "today").' })),
    integer: Type.Optional(Type.Boolean()),
    options: Type.Optional(Type.Array(ChoiceOptionSchema, { minItems: 2 })),
  },
  { additionalProperties: false },
);

export const EndingSchema = Type.Object(
  {
    say: Type.String({ minLength: 1, description: 'Closing words; may use {stepId} placeholders and {summary}.' }),
    status: Type.String({ pattern: '^[a-z][a-z0-9_]*$', description: 'Conversation status this ending sets (not "active").' }),
  },
  { additionalProperties: false },
);

export const FlowSchema = Type.Object(
  {
    id: Identifier,
    title: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    greeting: Type.Optional(Type.String({ description: 'Said once, before the first question.' })),
    dateOrder: Type.Optional(Type.Union([Type.Literal('mdy'), Type.Literal('dmy')], { description: 'How to read 03/05/1982. Default mdy.' })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: 'Answers that do not fit before giving up on a step. Default 3.' })),
    giveUp: Type.Optional(Type.String({ description: 'Ending used when a required step is never answered. Without it the question is asked again indefinitely.' })),
    steps: Type.Array(StepSchema, { minItems: 1 }),
    endings: Type.Record(Identifier, EndingSchema),
  },
  { additionalProperties: false },
);

export type FlowStep = Static<typeof StepSchema>;
export type FlowEnding = Static<typeof EndingSchema>;
export type FlowDefinition = Static<typeof FlowSchema>;
export type StepType = FlowStep['type'];
