import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { CompiledPolicy } from './compiled-policy.js';
import { formatProblem, parsePolicy, PolicyError } from './load-policy.js';
import { jwksFileDigest } from './pinned-keys.js';

const DEBOUNCE_MS = 150;

export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Reloads the policy when its file or one of its pinned-key files (`jwks_file`) changes (watching their
 * directories, so editors that replace a file and Kubernetes ConfigMap symlink swaps are seen) or on SIGHUP. A valid policy replaces the old one at once; an
 * invalid one is refused with its problems logged, and the old policy keeps serving.
 */
export class PolicyReloader {
  private readonly watchers = new Map<string, FSWatcher>();
  /** The jwks_files of the policy serving now, with the digest of the text compiled: watched and compared. */
  private keyFiles: readonly KeyFile[] = [];
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

  /** Watches the policy file and the key files of `serving`, the policy the broker started with. */
  async start(serving?: CompiledPolicy): Promise<void> {
    if (serving !== undefined) this.keyFiles = keyFilesOf(serving);
    this.lastDigest = await this.servingDigest();
    this.watchDirectories();
    process.on('SIGHUP', this.onSignal);
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    process.off('SIGHUP', this.onSignal);
  }

  /** One watcher per directory holding the policy file or a key file; the others are closed. */
  private watchDirectories(): void {
    const directories = new Set([dirname(this.file), ...this.keyFiles.map(({ file }) => dirname(file))]);
    for (const [directory, watcher] of this.watchers) {
      if (directories.has(directory)) continue;
      watcher.close();
      this.watchers.delete(directory);
    }
    for (const directory of directories) {
      if (this.watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, { persistent: false }, () => {
          clearTimeout(this.timer);
          this.timer = setTimeout(() => void this.reload(false), DEBOUNCE_MS);
        });
        watcher.on('error', (error) =>
          this.logger.warn(
            { directory, error: error.message },
            'watching a policy directory failed; SIGHUP still reloads the policy',
          ),
        );
        this.watchers.set(directory, watcher);
      } catch (error) {
        this.logger.warn(
          { directory, error: (error as Error).message },
          'cannot watch a policy directory; SIGHUP still reloads the policy',
        );
      }
    }
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
    // What the key files hold now (read once here; compiling reads them again and records what it compiled).
    const digest = digestOf(
      text,
      this.keyFiles.map(({ file }) => ({ file, sha256: jwksFileDigest(file) })),
    );
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
    this.keyFiles = keyFilesOf(policy);
    // The digest of what now serves, from the key texts it compiled: a file changed since is seen as a change.
    this.lastDigest = digestOf(text, this.keyFiles);
    this.watchDirectories();
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

  /** The digest of the policy file as it reads now and of the key texts the serving policy compiled. */
  private async servingDigest(): Promise<string | undefined> {
    try {
      return digestOf(await readFile(this.file, 'utf8'), this.keyFiles);
    } catch {
      return undefined;
    }
  }
}

interface KeyFile {
  readonly file: string;
  readonly sha256: string;
}

/** The policy text and the digest of each of its key files. */
function digestOf(text: string, keyFiles: readonly KeyFile[]): string {
  const hash = createHash('sha256').update(text);
  for (const { file, sha256 } of keyFiles) hash.update(`\0${file}\0${sha256}`);
  return hash.digest('hex');
}

function keyFilesOf(policy: CompiledPolicy): KeyFile[] {
  return [...policy.issuers.values()].flatMap(({ pinnedKeys }) =>
    pinnedKeys?.file === undefined || pinnedKeys.fileSha256 === undefined
      ? []
      : [{ file: pinnedKeys.file, sha256: pinnedKeys.fileSha256 }],
  );
}
