import { TokenAlreadyUsedError, type AuditEntry, type TokenUse } from '../store/interfaces.js';

/** One AuditRecords.append call waiting for its batch. */
export interface PendingAppend {
  readonly record: string;
  readonly hashFor: (prevHash: string, record: string) => string;
  readonly tokenUse: TokenUse | undefined;
}

/** Per append, in order: its entry, or the replay it turned out to be (that append wrote nothing). */
export type AppendOutcome = AuditEntry | TokenAlreadyUsedError;

/**
 * Writes a batch in one transaction and reports each append's outcome; a rejection fails the whole batch
 * (nothing of it was committed).
 */
export type BatchWriter = (appends: readonly PendingAppend[]) => Promise<AppendOutcome[]>;

const MAX_BATCH = 256;

/** The previous hash of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Links a batch onto the chain's head, in order: each append that `mayWrite` allows gets the next sequence
 * number and a hash over the previous one; the others are replays and take no place in the chain. The store
 * then inserts the entries, in the same transaction as `head` was read.
 */
export function linkBatch(
  head: { readonly seq: number; readonly hash: string } | undefined,
  appends: readonly PendingAppend[],
  mayWrite: (append: PendingAppend, index: number) => boolean,
): AppendOutcome[] {
  let prevHash = head?.hash ?? GENESIS_HASH;
  let seq = head?.seq ?? 0;
  return appends.map((append, index) => {
    if (!mayWrite(append, index)) return new TokenAlreadyUsedError('the token was used before');
    seq += 1;
    const hash = append.hashFor(prevHash, append.record);
    const entry = { seq, record: append.record, prevHash, hash };
    prevHash = hash;
    return entry;
  });
}

/** The entries of a linked batch, without its replays. */
export function writtenEntries(outcomes: readonly AppendOutcome[]): AuditEntry[] {
  return outcomes.filter((outcome): outcome is AuditEntry => !(outcome instanceof TokenAlreadyUsedError));
}

/**
 * Group commit for the audit chain: the appends that arrive while the previous batch is being written (or in
 * the same turn of the event loop) go into the next transaction together, so a busy broker pays one commit,
 * and with SQLite one fsync, for many exchanges instead of one each. Every append still resolves only after
 * its own transaction committed, so nothing is released on an unwritten record.
 */
export class AuditBatcher {
  private queue: Array<{
    readonly append: PendingAppend;
    readonly resolve: (entry: AuditEntry) => void;
    readonly reject: (error: unknown) => void;
  }> = [];
  private writing = false;
  private scheduled = false;

  constructor(private readonly writeBatch: BatchWriter) {}

  append(append: PendingAppend): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.queue.push({ append, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask: every request that reached its append in this turn joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.writing = true;
    try {
      const outcomes = await this.writeBatch(batch.map((item) => item.append));
      batch.forEach((item, index) => {
        const outcome = outcomes[index];
        if (outcome === undefined) item.reject(new Error('the audit batch writer returned too few outcomes'));
        else if (outcome instanceof TokenAlreadyUsedError) item.reject(outcome);
        else item.resolve(outcome);
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
    } finally {
      this.writing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }
}
