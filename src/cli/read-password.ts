import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '');
};

/** Asks on the terminal without echoing what is typed. */
const prompt = (question: string): Promise<string> =>
  new Promise((resolve) => {
    let muted = false;
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (!muted) process.stderr.write(chunk);
        callback();
      },
    });
    const readline = createInterface({ input: process.stdin, output, terminal: true });
    readline.question(question, (answer) => {
      readline.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    muted = true;
  });

/** A password from piped stdin (first line), or typed twice on a terminal. Never from argv, where `ps` shows it. */
export const readPassword = async (): Promise<string> => {
  if (!process.stdin.isTTY) return readStdin();
  const first = await prompt('Password: ');
  const second = await prompt('Again: ');
  if (first !== second) throw new Error('the passwords differ');
  return first;
};
