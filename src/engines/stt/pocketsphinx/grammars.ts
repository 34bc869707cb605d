import type { RecognitionHints } from '../speech-to-text.js';

/** A named JSGF grammar; the name identifies it in the decoder's search cache. */
export interface Grammar {
  readonly name: string;
  readonly jsgf: string;
}

const DIGITS = 'one | two | three | four | five | six | seven | eight | nine';
const TEENS = 'ten | eleven | twelve | thirteen | fourteen | fifteen | sixteen | seventeen | eighteen | nineteen';
const TENS = 'twenty | thirty | forty | fifty | sixty | seventy | eighty | ninety';
const ORDINAL_DIGITS = 'first | second | third | fourth | fifth | sixth | seventh | eighth | ninth';
const ORDINAL_TEENS = 'tenth | eleventh | twelfth | thirteenth | fourteenth | fifteenth | sixteenth | seventeenth | eighteenth | nineteenth';
const MONTHS = 'january | february | march | april | may | june | july | august | september | october | november | december';

const header = (name: string) => `#JSGF V1.0;\ngrammar ${name};\n`;

const NUMBER_RULES = [
  `<digit> = ${DIGITS};`,
  `<teen> = ${TEENS};`,
  `<tens> = ${TENS};`,
  '<below100> = <digit> | <teen> | <tens> [<digit>];',
].join('\n');

const YES_NO = `${header('yesno')}public <answer> = [<lead>] <core> [<tail>];
<lead> = well | um | uh | oh;
<core> = yes | yeah | yep | sure | correct | of course | absolutely | no | nope | not really | none | never | i do | i don't | i do not | i have | i haven't | i have not | i am | i'm not;
<tail> = i do | i don't | i do not | i have | i haven't | i have not | i am | i'm not | please | thank you | thanks | none;
`;

const DATE = `${header('date')}public <date> = [<lead>] ( <month> [the] <day> [<year>] | [the] <day> of <month> [<year>] | <day> <month> [<year>] );
<lead> = it's | it is | i was born on | my birthday is | born on;
<month> = ${MONTHS};
<day> = <ordinal> | <cardinal>;
<ordinal> = ${ORDINAL_DIGITS} | ${ORDINAL_TEENS} | twentieth | twenty (${ORDINAL_DIGITS}) | thirtieth | thirty first;
<cardinal> = ${DIGITS} | ${TEENS} | twenty [<digit>] | thirty [one];
<year> = <century> <below100> | <century> hundred | <century> oh <digit> | two thousand [[and] <below100>];
<century> = eighteen | nineteen | twenty;
${NUMBER_RULES}
`;

const NUMBER = `${header('number')}public <number> = [<lead>] <value> [<unit>];
<lead> = about | around | maybe | it's | it is;
<value> = zero | <below100> | [a | <digit>] hundred [[and] <below100>];
<unit> = years [old] | times | days | weeks | months | hours | percent;
${NUMBER_RULES}
`;

/** Words PocketSphinx's grammar parser accepts: letters and apostrophes only. */
const grammarWords = (phrase: string): string =>
  phrase
    .toLowerCase()
    .replace(/[^a-z' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');

/**
 * The grammar that matches what the dialogue expects next, or undefined to use
 * the open language model (free text, or nothing usable to constrain with).
 */
export const grammarFor = (hints: RecognitionHints | undefined): Grammar | undefined => {
  const expect = hints?.expect;
  if (!expect) return undefined;
  switch (expect.type) {
    case 'yesno':
      return { name: 'yesno', jsgf: YES_NO };
    case 'date':
      return { name: 'date', jsgf: DATE };
    case 'number':
      return { name: 'number', jsgf: NUMBER };
    case 'choice': {
      const options = [...new Set(expect.options.map(grammarWords).filter(Boolean))];
      if (options.length === 0) return undefined;
      const name = `choice_${options.join('_').replace(/[^a-z]/g, '').slice(0, 40)}_${options.length}`;
      return { name, jsgf: `${header('choice')}public <choice> = [the] (${options.join(' | ')}) [please];\n` };
    }
    case 'text':
      return undefined;
  }
};
