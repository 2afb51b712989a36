/** Runs a command as a child process, collecting its output and letting tests wait for a line. */
import { spawn, type ChildProcess } from 'node:child_process';

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;
/** The broker CLI from source, as `node` runs it (tsx compiles TypeScript on the fly). */
export const BROKER_CLI = ['--import', 'tsx', `${REPO_ROOT}src/cli/secrets-broker.ts`];

export class Child {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly process: ChildProcess;
  private readonly detached: boolean;

  constructor(
    command: string,
    args: readonly string[],
    options: {
      env?: NodeJS.ProcessEnv;
      cwd?: string;
      /** All of the input, then end of file; with `interactive`, nothing is sent until `type` is called. */
      stdin?: string;
      interactive?: boolean;
      detached?: boolean;
    } = {},
  ) {
    this.detached = options.detached ?? false;
    this.process = spawn(command, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: this.detached,
    });
    this.process.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.process.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    // A child that exits without reading its input must not fail the test with EPIPE.
    this.process.stdin!.on('error', () => undefined);
    if (options.interactive !== true) this.process.stdin!.end(options.stdin ?? '');
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }

  /** Sends `text` to an interactive child's input, as typed. */
  type(text: string): void {
    this.process.stdin!.write(text);
  }

  get pid(): number {
    return this.process.pid as number;
  }

  /** Resolves with the first match of `pattern` in stdout+stderr; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = (this.stdout + this.stderr).match(pattern);
        if (match !== null) {
          cleanup();
          resolve(match);
          return true;
        }
        return false;
      };
      const onData = (): void => void check();
      const onExit = (): void => {
        if (!check()) {
          cleanup();
          reject(
            new Error(
              `process exited before printing ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.process.stdout!.off('data', onData);
        this.process.stderr!.off('data', onData);
        this.process.off('exit', onExit);
      };
      this.process.stdout!.on('data', onData);
      this.process.stderr!.on('data', onData);
      this.process.once('exit', onExit);
      check();
    });
  }

  /** Sends a signal to the process (or its whole group when started detached) and waits for it to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      try {
        if (this.detached) process.kill(-this.pid, signal);
        else this.process.kill(signal);
      } catch {
        // already gone
      }
    }
    return this.exited;
  }
}

/** Runs a command to completion. */
export async function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string; cwd?: string } = {},
) {
  const child = new Child(command, args, options);
  const code = await child.exited;
  return { code, stdout: child.stdout, stderr: child.stderr };
}

/** The current environment without any SECRETS_BROKER_* variable, as on a machine where nothing is configured. */
export function unconfiguredEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SECRETS_BROKER_')),
  );
}
