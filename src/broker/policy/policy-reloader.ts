import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { CompiledPolicy } from './compiled-policy.js';
import { formatProblem, parsePolicy, PolicyError } from './load-policy.js';

const DEBOUNCE_MS = 150;

export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Reloads the policy when its file changes (watching the directory, so editors that replace the file and
 * Kubernetes ConfigMap symlink swaps are seen) or on SIGHUP. A valid policy replaces the old one at once; an
 * invalid one is refused with its problems logged, and the old policy keeps serving.
 */
export class PolicyReloader {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastDigest: string | undefined;
  private running: Promise<ReloadResult> | undefined;
  private readonly onSignal = (): void => void this.reload(true);

  constructor(
    private readonly file: string,
    private readonly apply: (policy: CompiledPolicy) => void,
    private readonly onResult: (result: ReloadResult) => void,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.lastDigest = await this.digest();
    this.watcher = watch(dirname(this.file), { persistent: false }, () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(false), DEBOUNCE_MS);
    });
    this.watcher.on('error', (error) =>
      this.logger.warn({ error: error.message }, 'watching the policy file failed; SIGHUP still reloads it'),
    );
    process.on('SIGHUP', this.onSignal);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    process.off('SIGHUP', this.onSignal);
  }

  /** Reloads now (one at a time). Unless `force`, an unchanged file is left alone. */
  reload(force: boolean): Promise<ReloadResult> {
    const previous = this.running ?? Promise.resolve<ReloadResult>({ ok: true, changed: false });
    // Whatever a reload throws, the chain stays usable and the old policy keeps serving.
    this.running = previous
      .catch(() => undefined)
      .then(() => this.reloadOnce(force))
      .catch((error: unknown) =>
        this.report({
          ok: false,
          problems: [
            `${this.file}: the policy could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
          ],
        }),
      );
    return this.running;
  }

  private async reloadOnce(force: boolean): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      return this.report({
        ok: false,
        problems: [
          `${this.file}: cannot read the policy file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        ],
      });
    }
    const digest = createHash('sha256').update(text).digest('hex');
    if (!force && digest === this.lastDigest) return { ok: true, changed: false };
    this.lastDigest = digest;
    let policy: CompiledPolicy;
    try {
      policy = parsePolicy(text, this.file);
    } catch (error) {
      if (error instanceof PolicyError)
        return this.report({ ok: false, problems: error.problems.map(formatProblem) });
      throw error;
    }
    this.apply(policy);
    this.logger.info({ policy: this.file, rules: policy.rules.length }, 'policy reloaded');
    return this.report({ ok: true, changed: true });
  }

  private report(result: ReloadResult): ReloadResult {
    if (!result.ok)
      this.logger.error(
        { policy: this.file, problems: result.problems },
        'policy reload refused; the previous policy keeps serving',
      );
    this.onResult(result);
    return result;
  }

  private async digest(): Promise<string | undefined> {
    try {
      return createHash('sha256')
        .update(await readFile(this.file, 'utf8'))
        .digest('hex');
    } catch {
      return undefined;
    }
  }
}
