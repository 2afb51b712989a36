import type { Logger } from 'pino';
import type { AuditRecords } from '../store/interfaces.js';
import type { ChainHead } from './audit-chain.js';

export const DEFAULT_HEAD_INTERVAL_MS = 60_000;

/**
 * Writes the audit chain's head (newest sequence number and hash) to the JSON log at a fixed cadence. Logs kept
 * elsewhere then hold points of the chain that `audit verify --head SEQ:HASH` checks the store against, which is
 * what detects deleted newest records. The head is read from the store, so each replica sharing a database
 * publishes a true point of the one chain.
 */
export class ChainHeadPublisher {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly records: AuditRecords,
    private readonly logger: Logger,
  ) {}

  async publish(): Promise<ChainHead | undefined> {
    const head = await this.records.head();
    if (head !== undefined)
      this.logger.info(
        { audit_chain_head: { seq: head.seq, hash: head.hash } },
        `audit chain head: record ${head.seq}`,
      );
    return head;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.publishLogged(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** For timers and shutdown: a failure is logged, never thrown. */
  async publishLogged(): Promise<void> {
    try {
      await this.publish();
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'the audit chain head could not be read');
    }
  }
}
