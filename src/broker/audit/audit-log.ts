import { CodedError } from '../../protocol/coded-error.js';
import type { Logger } from 'pino';
import type { AuditEntry, AuditRecords, TokenUse } from '../store/interfaces.js';
import { parseLink, type AuditChainKeys, type PreviousLink } from './audit-chain-keys.js';
import { chainKeyedRecord } from './chain-keying.js';
import type { AuditRecord } from './audit-records.js';

/**
 * Appends records to the keyed chain (each linked with the current master key's chain key) and mirrors each as a
 * JSON log line. A failed append throws: callers fail closed.
 */
/** The audit log's newest record is not keyed: see AuditLog.checkKeyed. */
export class UnkeyedAuditChainError extends CodedError {
  readonly code: string = 'audit_chain_unkeyed';
  override name = 'UnkeyedAuditChainError';
  constructor(readonly unkeyedRecords: number) {
    super(
      `the audit log's newest record (${unkeyedRecords}) is not keyed: it was written by a broker from before the keyed audit chain, or rewritten by someone without the master key; the broker does not start on it`,
      {
        hint: 'check the log first ("secrets-broker audit verify" on a broker that has the key, or compare it with your log store); then start once with --key-legacy-audit (SECRETS_BROKER_KEY_LEGACY_AUDIT=true) to key it, and never leave that set',
      },
    );
  }
}

export class AuditLog {
  private readonly unconfiguredReported = new Set<string>();

  constructor(
    private readonly records: AuditRecords,
    private readonly logger: Logger,
    private readonly chainKeys: AuditChainKeys,
  ) {}

  /** With `tokenUse`, also records the token as used, atomically (throws TokenAlreadyUsedError on a replay). */
  async append(record: AuditRecord, tokenUse?: TokenUse): Promise<AuditEntry> {
    const text = JSON.stringify(record);
    const entry = await this.records.append(text, this.hashFor, tokenUse);
    this.logger.info(
      { audit: record, seq: entry.seq, hash: entry.hash },
      `audit ${record.kind} ${record.outcome}`,
    );
    return entry;
  }

  /**
   * At start: a log whose newest link is not keyed was written before the chain was keyed, or rewritten by
   * someone without the master key, and the two look alike. With `keyLegacy` (the operator checked it and says so,
   * for this start) the keying record (audit.chain_keyed) is written, whose keyed link pins the content of every
   * record before it; without it, UnkeyedAuditChainError stops the broker before anything is linked onto it.
   */
  async checkKeyed(keyLegacy: boolean): Promise<void> {
    const head = await this.records.head();
    if (head === undefined || parseLink(head.hash).kind !== 'unkeyed') return;
    if (!keyLegacy) throw new UnkeyedAuditChainError(head.seq);
    const record = chainKeyedRecord(head.seq);
    const entry = await this.records.append(JSON.stringify(record), this.chainKeys.link);
    this.logger.warn(
      { audit: record, seq: entry.seq, hash: entry.hash },
      `audit chain keyed: the ${head.seq} records before record ${entry.seq} were only hash-chained (written before the chain was keyed); from here on they are pinned`,
    );
  }

  /** Links each record; says so in the log when the link it follows could not be checked. */
  private readonly hashFor = (prevHash: string, record: string): string => {
    const { hash, previous } = this.chainKeys.linkAfter(prevHash, record);
    if (previous !== 'genesis' && previous !== 'verified') this.reportUnchecked(prevHash, previous);
    return hash;
  };

  private reportUnchecked(prevHash: string, previous: Exclude<PreviousLink, 'genesis' | 'verified'>): void {
    const link = parseLink(prevHash);
    if (previous === 'unconfigured' && link.kind === 'keyed') {
      if (this.unconfiguredReported.has(link.fingerprint)) return;
      this.unconfiguredReported.add(link.fingerprint);
      this.logger.warn(
        { audit_chain_previous: prevHash },
        `the audit chain's newest record is under chain key ${link.fingerprint}, which this broker does not hold: new records follow it unchecked. Expected from a replica still on the old key during a rolling key rotation; otherwise set that master key as SECRETS_BROKER_MASTER_KEY_OLD, or run "secrets-broker audit verify"`,
      );
      return;
    }
    this.logger.error(
      { audit_chain_previous: prevHash },
      previous === 'invalid'
        ? 'the audit chain\'s newest record does not verify under its chain key: the database was changed; run "secrets-broker audit verify"'
        : previous === 'unkeyed'
          ? 'the audit chain\'s newest record is not keyed although this broker keyed the chain: rewritten without the chain key, or written by a broker from before the keyed chain; run "secrets-broker audit verify"'
          : 'the audit chain\'s newest record has a hash in no form this broker writes; run "secrets-broker audit verify"',
    );
  }
}
