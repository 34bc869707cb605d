import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext typings.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const shared: Options = { useDefaults: true, removeAdditional: false, allErrors: false, strict: false };

/** Query strings, params and headers are text: coerce "2" to 2 there, and only there. */
const coercing = addFormats(new Ajv({ ...shared, coerceTypes: 'array' }));
/** JSON bodies already have types: a number where a string belongs is the client's mistake. */
const exact = addFormats(new Ajv({ ...shared, coerceTypes: false }));

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? exact : coercing).compile(schema as object) as ReturnType<FastifySchemaCompiler<FastifySchema>>;
