/** Writes a command's result: JSON for scripts (`--json`), text for people. */
export const printResult = (json: boolean, data: unknown, text: () => string): void => {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
};
