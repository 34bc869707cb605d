/** What the process exit status means, for scripts and supervisors. */
export const ExitCode = {
  ok: 0,
  /** Something went wrong at run time: port in use, database unreadable, a check failed. */
  failure: 1,
  /** The command was used wrongly: unknown flag, invalid configuration or flow file. */
  usage: 2,
} as const;

/** An error the CLI reports as one line, with a chosen exit code, instead of a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = ExitCode.failure) {
    super(message);
    this.name = 'CliError';
  }
}
