import type { Session } from './session.js';

/** Signed-out sessions one replica remembers by id; beyond, a sign-out ends every older session here instead. */
export const MAX_ENDED_SESSIONS = 10_000;

/**
 * The sessions signed out on this replica, so that a copy of a signed-out cookie opens nothing here any more (the
 * cookie itself cannot be recalled, and it stays valid under the session key until its idle or absolute end).
 * Held in memory only: other replicas do not know of it (docs/dashboard.md says so), and a restart forgets it.
 *
 * Bounded: an id is kept until its session's absolute end, pruned after (when the list is full). When MAX_ENDED_SESSIONS ids are still
 * in force, none is dropped: the replica instead ends every session issued up to now (`endedBefore`), which
 * covers every id it held, and starts its list again. That signs everyone out of this replica, never anyone in.
 */
export class EndedSessions {
  /** Session id → when it was issued and its absolute end (after which the sealed session opens nothing anyway). */
  private readonly ended = new Map<string, { readonly issuedAt: number; readonly expiresAt: number }>();
  /** Sessions issued at or before this time have ended on this replica. */
  private endedBefore = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly capacity = MAX_ENDED_SESSIONS,
  ) {}

  /** Ends `session` on this replica; true when the list was full and every session issued until now was ended. */
  end(session: Session): boolean {
    const now = this.now();
    if (session.expiresAt <= now || this.isEnded(session)) return false;
    if (this.ended.size >= this.capacity) this.prune(now);
    if (this.ended.size < this.capacity) {
      this.ended.set(session.id, { issuedAt: session.issuedAt, expiresAt: session.expiresAt });
      return false;
    }
    // A session sealed by a replica whose clock runs a little ahead may be "issued" after now: cover it too.
    let latest = Math.max(now, session.issuedAt);
    for (const { issuedAt } of this.ended.values()) latest = Math.max(latest, issuedAt);
    this.endedBefore = Math.max(this.endedBefore, latest);
    this.ended.clear();
    return true;
  }

  isEnded(session: Session): boolean {
    return session.issuedAt <= this.endedBefore || this.ended.has(session.id);
  }

  /** Ids held (for tests and the bound). */
  get size(): number {
    return this.ended.size;
  }

  private prune(now: number): void {
    for (const [id, { expiresAt }] of this.ended) if (expiresAt <= now) this.ended.delete(id);
  }
}
