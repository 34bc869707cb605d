import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const HARKEN_BIN = fileURLToPath(new URL('../../bin/harken.js', import.meta.url));

/** The environment a fresh user would have: no HARKEN_* settings leaking in from the test runner. */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HARKEN_')));
  return { ...env, ...extra };
};

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI to completion. */
export const runCli = (args: string[], options: { cwd: string; env?: Record<string, string>; input?: string }): CliResult => {
  const result = spawnSync(process.execPath, [HARKEN_BIN, ...args], { cwd: options.cwd, env: cleanEnv(options.env ?? {}), encoding: 'utf8', timeout: 30_000, input: options.input ?? '' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
};

export interface RunningServer {
  readonly url: string;
  readonly process: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Stops reading the server's stdout (its log), as a stuck log collector would; `resume` reads on. */
  pauseStdout(): void;
  resumeStdout(): void;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `harken serve` as a real process and waits for the line announcing its URL. */
export const startCliServer = (options: { cwd: string; env?: Record<string, string>; args?: string[] }): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HARKEN_BIN, 'serve', '--port', '0', ...(options.args ?? [])], {
      cwd: options.cwd,
      env: cleanEnv(options.env ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time; stderr:\n${stderr}`));
    }, 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /listening on (https?:\/\/[^\s]+)/.exec(stderr)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({
          url,
          process: child,
          stdout: () => stdout,
          stderr: () => stderr,
          pauseStdout: () => child.stdout.pause(),
          resumeStdout: () => child.stdout.resume(),
          stop: (signal = 'SIGTERM') => {
            child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });

/** Like runCli, without blocking this process (needed when the test itself serves the CLI's requests). */
export const runCliAsync = (args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliResult> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [HARKEN_BIN, ...args], { cwd: options.cwd, env: cleanEnv(options.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
