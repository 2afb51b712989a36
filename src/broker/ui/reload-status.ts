import type { ReloadResult } from '../policy/policy-reloader.js';

/** Problems of a refused reload the dashboard keeps (the log has them all). */
const MAX_KEPT_PROBLEMS = 20;

export interface LastReload {
  readonly at: string;
  readonly applied: boolean;
  readonly problems: readonly string[];
}

/** The result of the last policy reload that did something (applied or refused), for the Health view. */
export class ReloadStatus {
  private last: LastReload | undefined;

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Called with each reload's result; an unchanged file is not a reload. */
  record(result: ReloadResult): void {
    if (result.ok && !result.changed) return;
    this.last = {
      at: this.now().toISOString(),
      applied: result.ok,
      problems: result.ok ? [] : result.problems.slice(0, MAX_KEPT_PROBLEMS),
    };
  }

  /** Undefined while no reload was tried since the start. */
  get lastReload(): LastReload | undefined {
    return this.last;
  }
}
