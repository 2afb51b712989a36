import type { Worker } from 'node:worker_threads';
import { encodeSealedPayload, type SealedPayload } from '../protocol/wire-shapes.js';
import type { SealAnswer, SealRequest } from './seal-worker.js';
import { RecipientKeyError } from './sealing.js';
import { startModuleWorker } from './threads/module-worker.js';

/** Workers lost in a row after which the sealer counts as down (/readyz) and restarts wait. */
const LOSSES_BEFORE_DOWN = 3;
const FIRST_RESTART_DELAY_MS = 1000;
const LONGEST_RESTART_DELAY_MS = 30_000;

interface Pending {
  readonly resolve: (sealed: readonly string[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Seals exchanges' payloads in a worker thread (seal-worker.ts), so the event loop keeps reading requests and
 * answering others meanwhile, and on a machine with two cores the sealing runs beside it. Each payload is
 * encoded here, copied into one buffer that is transferred (not copied) to the worker, and wiped here at once;
 * the worker wipes the transferred buffer after sealing. A worker that fails fails the exchanges it was sealing
 * for, and the next exchange starts a new one.
 */
export class SealingThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;
  /** Workers lost since the last seal that worked, the last reason, and when a new one may start. */
  private losses = 0;
  private lastLoss = '';
  private restartAt = 0;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.worker = this.start();
  }

  /**
   * Why nothing can be sealed (after several workers in a row were lost), or undefined while sealing works:
   * /readyz reports it, so a load balancer stops sending exchanges this replica would refuse.
   */
  get problem(): string | undefined {
    if (this.losses < LOSSES_BEFORE_DOWN) return undefined;
    return `the sealing thread was lost ${this.losses} times in a row (${this.lastLoss})`;
  }

  /** The payloads sealed to `recipient`, base64, in their order. Throws RecipientKeyError for an unusable key. */
  seal(payloads: readonly SealedPayload[], recipient: Buffer): Promise<readonly string[]> {
    if (this.closed) return Promise.reject(new Error('the sealing thread is closed'));
    if (payloads.length === 0) return Promise.resolve([]);
    // A worker that keeps failing is not restarted for every exchange: each waits out a growing delay.
    if (this.worker === undefined && this.now() < this.restartAt)
      return Promise.reject(new Error(`the sealing thread is down: ${this.problem ?? this.lastLoss}`));
    const encoded = payloads.map(encodeSealedPayload);
    const lengths = encoded.map((bytes) => bytes.length);
    const plaintext = new Uint8Array(lengths.reduce((sum, length) => sum + length, 0));
    let offset = 0;
    for (const bytes of encoded) {
      plaintext.set(bytes, offset);
      offset += bytes.length;
      bytes.fill(0);
    }
    const id = (this.nextId += 1);
    const request: SealRequest = {
      id,
      recipient: new Uint8Array(recipient),
      plaintext: plaintext.buffer,
      lengths,
    };
    return new Promise((resolve, reject) => {
      const worker = (this.worker ??= this.start());
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      try {
        worker.postMessage(request, [plaintext.buffer]);
      } catch (error) {
        this.settle(id);
        plaintext.fill(0);
        reject(error as Error);
      }
    });
  }

  /** Ends the worker; seals still under way fail. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the sealing thread was closed'));
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = startModuleWorker('seal-worker', import.meta.url);
    // Only a seal under way keeps the process alive.
    worker.unref();
    worker.on('message', (answer: SealAnswer) => {
      const pending = this.settle(answer.id);
      if (pending === undefined) return;
      if ('sealed' in answer) {
        this.losses = 0;
        pending.resolve(answer.sealed);
      } else if (answer.refused === 'recipient')
        pending.reject(new RecipientKeyError('the recipient is not a usable X25519 public key'));
      else pending.reject(new Error('sealing failed in the sealing thread'));
    });
    const lost = (reason: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.losses += 1;
      this.lastLoss = reason;
      if (this.losses >= LOSSES_BEFORE_DOWN) {
        const delay = FIRST_RESTART_DELAY_MS * 2 ** (this.losses - LOSSES_BEFORE_DOWN);
        this.restartAt = this.now() + Math.min(delay, LONGEST_RESTART_DELAY_MS);
      }
      this.failAll(new Error(`the sealing thread ${reason}`));
    };
    worker.on('error', (error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    return worker;
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    return pending;
  }

  private failAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const each of pending) each.reject(error);
  }
}
