import { createHash, timingSafeEqual } from 'node:crypto';
import { keyProof, type ProvenRequest } from '../../protocol/key-binding.js';
import type { Logger } from 'pino';
import sodium from 'sodium-native';
import { decryptValue, DecryptionError, encryptValue } from '../store/envelope.js';
import type { RunOutputRecords, StoredOutputKey } from '../store/interfaces.js';
import type { KeyRing } from '../store/key-ring.js';

/** A run-output key pair this replica holds, its private key unwrapped. */
interface HeldKey {
  readonly publicKey: Buffer;
  readonly secretKey: Buffer;
}

/** What /v1/info publishes. */
export interface PublishedOutputKey {
  /** base64 of the 32-byte X25519 public key. */
  readonly publicKey: string;
  readonly keyId: string;
}

/** A box opened: the key that opened it, and its plaintext (the caller wipes it). */
export interface OpenedBox {
  readonly keyId: string;
  readonly plaintext: Buffer;
}

/** The short id of a run-output public key: the first 16 hex digits of its SHA-256. */
export function outputKeyId(publicKey: Buffer): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/** What the private key is bound to when wrapped: moving it to another row makes it fail to unwrap. */
const wrapName = (keyId: string) => `run-output-key/${keyId}`;

/**
 * The broker's run-output key pairs: jobs seal outputs to the current public key (/v1/info); the store keeps each
 * pair with its private key wrapped under the master key, so every replica opens what any replica stored. Older
 * pairs stay until dropped (`secrets-broker rotate-output-key --drop-old`): outputs sealed to a dropped key can
 * never be opened again.
 */
export class RunOutputKeys {
  private held = new Map<string, HeldKey>();
  private currentId = '';

  private constructor(
    private readonly records: RunOutputRecords,
    private readonly keyRing: KeyRing,
    private readonly logger: Logger,
  ) {}

  /** The keys the store holds, unwrapped; on the very first start (or with none usable) a new current pair. */
  static async load(records: RunOutputRecords, keyRing: KeyRing, logger: Logger): Promise<RunOutputKeys> {
    const keys = new RunOutputKeys(records, keyRing, logger);
    await keys.refresh();
    return keys;
  }

  get current(): PublishedOutputKey {
    const held = this.held.get(this.currentId) as HeldKey;
    return { publicKey: held.publicKey.toString('base64'), keyId: this.currentId };
  }

  /** The ids of the keys this replica holds, the current one first. */
  get keyIds(): string[] {
    return [this.currentId, ...[...this.held.keys()].filter((id) => id !== this.currentId)];
  }

  /** Seals `plaintext` to the held key `keyId` (which opened the box it came from). */
  seal(plaintext: Buffer, keyId: string): Buffer {
    const key = this.held.get(keyId);
    if (key === undefined) throw new Error(`run-output key ${keyId} is not held`);
    const box = Buffer.alloc(plaintext.length + sodium.crypto_box_SEALBYTES);
    sodium.crypto_box_seal(box, plaintext, key.publicKey);
    return box;
  }

  /** Opens a sealed box with the key `keyId` when held, else with each held key (the current one first). */
  open(box: Buffer, keyId?: string): OpenedBox | undefined {
    if (box.length < sodium.crypto_box_SEALBYTES) return undefined;
    const ids = keyId === undefined ? this.keyIds : [keyId];
    for (const id of ids) {
      const key = this.held.get(id);
      if (key === undefined) continue;
      const plaintext = Buffer.alloc(box.length - sodium.crypto_box_SEALBYTES);
      if (sodium.crypto_box_seal_open(plaintext, box, key.publicKey, key.secretKey))
        return { keyId: id, plaintext };
    }
    return undefined;
  }

  /**
   * Whether `proof` is the key proof of `jobKey` for `request` under one of the held keys (docs/protocol.md "Key
   * binding"): X25519(held private key, job key) keys it. A small-order job key (an all-zero shared secret) proves
   * nothing.
   */
  async verifyKeyProof(jobKey: Buffer, proof: Buffer, request: ProvenRequest): Promise<boolean> {
    // A key rotated on another replica is not held here yet: one read of the current key id tells.
    return (
      this.proves(jobKey, proof, request) ||
      ((await this.refreshIfRotated()) && this.proves(jobKey, proof, request))
    );
  }

  private proves(jobKey: Buffer, proof: Buffer, request: ProvenRequest): boolean {
    const shared = Buffer.alloc(sodium.crypto_scalarmult_BYTES);
    try {
      for (const id of this.keyIds) {
        const key = this.held.get(id) as HeldKey;
        try {
          sodium.crypto_scalarmult(shared, key.secretKey, jobKey);
        } catch {
          return false;
        }
        if (shared.every((byte) => byte === 0)) return false;
        const expected = keyProof(shared, jobKey, key.publicKey, request);
        if (expected.length === proof.length && timingSafeEqual(expected, proof)) return true;
      }
      return false;
    } finally {
      sodium.sodium_memzero(shared);
    }
  }

  /**
   * Reads the keys from the store again: another replica may have rotated or dropped them. Keys no longer stored
   * are wiped from memory. Creates the first pair when there is none.
   */
  async refresh(): Promise<void> {
    const stored = await this.records.keys();
    let current = await this.records.currentKeyId();
    const held = new Map<string, HeldKey>();
    for (const key of stored) {
      const unwrapped = this.held.get(key.keyId) ?? (await this.unwrap(key));
      if (unwrapped !== undefined) held.set(key.keyId, unwrapped);
    }
    if (current === undefined || !held.has(current)) {
      if (current !== undefined)
        this.logger.error(
          { key_id: current },
          'the current run-output key cannot be unwrapped with the configured master keys: making a new one; outputs sealed to it cannot be read',
        );
      const created = this.generate();
      current = await this.records.addKey(created.stored, current !== undefined);
      if (current === created.stored.keyId) held.set(current, created.held);
      else return this.refresh();
    }
    for (const [id, key] of this.held) if (!held.has(id)) sodium.sodium_memzero(key.secretKey);
    this.held = held;
    this.currentId = current;
  }

  /** Refreshes when one of `keyIds` (read from the store) is not held here yet: another replica made it. */
  async holdAll(keyIds: readonly string[]): Promise<void> {
    if (keyIds.some((id) => !this.held.has(id))) await this.refresh();
  }

  /**
   * Refreshes when the store's current key is not the one held here (another replica rotated); false when it did
   * not. For boxes no held key opens: one read of one row unless there was a rotation.
   */
  async refreshIfRotated(): Promise<boolean> {
    if ((await this.records.currentKeyId()) === this.currentId) return false;
    await this.refresh();
    return true;
  }

  /** Makes a new pair current; the others stay until dropOld. */
  async rotate(): Promise<PublishedOutputKey> {
    const created = this.generate();
    await this.records.addKey(created.stored, true);
    await this.refresh();
    return this.current;
  }

  /** Deletes every pair but the current one, and the outputs sealed to them. */
  async dropOld(): Promise<{ keyIds: string[]; outputs: number }> {
    const dropped = await this.records.dropOldKeys();
    await this.refresh();
    return dropped;
  }

  /** The pair with its private key unwrapped; re-wrapped under the current master key when under an older one. */
  private async unwrap(key: StoredOutputKey): Promise<HeldKey | undefined> {
    const wrappingKey = this.keyRing.wrappingKey(key.wrapped.keyId);
    if (wrappingKey === undefined) {
      this.logger.warn(
        { key_id: key.keyId, wrapped_with: key.wrapped.keyId },
        'a run-output key is wrapped with a master key that is not configured: outputs sealed to it cannot be read',
      );
      return undefined;
    }
    let secretKey: Buffer;
    try {
      secretKey = decryptValue(key.wrapped, wrapName(key.keyId), 1, wrappingKey);
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      this.logger.error({ key_id: key.keyId }, 'a run-output key failed authentication: it is not used');
      return undefined;
    }
    if (key.wrapped.keyId !== this.keyRing.currentKeyId) {
      const targetKeyId = this.keyRing.currentKeyId;
      const target = this.keyRing.wrappingKey(targetKeyId) as Buffer;
      const rewrapped = encryptValue(secretKey, wrapName(key.keyId), 1, targetKeyId, target);
      await this.records.rewrapKey(key.keyId, rewrapped, key.wrapped.keyId);
    }
    return { publicKey: key.publicKey, secretKey };
  }

  private generate(): { stored: StoredOutputKey; held: HeldKey } {
    const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
    const secretKey = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
    sodium.crypto_box_keypair(publicKey, secretKey);
    const keyId = outputKeyId(publicKey);
    const wrapKeyId = this.keyRing.currentKeyId;
    const wrapped = encryptValue(
      secretKey,
      wrapName(keyId),
      1,
      wrapKeyId,
      this.keyRing.wrappingKey(wrapKeyId) as Buffer,
    );
    return {
      stored: { keyId, publicKey, wrapped, createdAt: new Date().toISOString() },
      held: { publicKey, secretKey },
    };
  }
}
