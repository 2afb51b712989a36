import type { RequestedEntry } from '../../protocol/secret-names.js';
import { RUN_OUTPUT_PREFIX } from '../../protocol/wire-shapes.js';
import { BrokerError } from '../errors.js';
import type { VerifiedToken } from '../oidc/token-verifier.js';
import type { RunOutputRecords } from '../store/interfaces.js';
import { SecretIntegrityError, type DecryptedSecret } from '../store/secret-vault.js';
import { requireRunBinding, type RunBinding } from './run-binding.js';
import { storedOutputValue } from './stored-output.js';
import type { OpenedBox, RunOutputKeys } from './run-output-keys.js';

/** The run outputs an exchange releases, and the request that put each (named in the exchange's record). */
export interface ReadOutputs {
  readonly released: readonly DecryptedSecret[];
  /** Entry name (`run/NAME`) → request id of the put it came from. */
  readonly putRequestIds: ReadonlyMap<string, string>;
  /** Required entries with no unexpired output of this run. */
  readonly notFound: readonly string[];
}

/** Whether an entry (a name, a pattern or alternatives) names run outputs. */
function namesRunOutputs(entry: RequestedEntry): boolean {
  return (
    entry.target.startsWith(RUN_OUTPUT_PREFIX) ||
    entry.alternatives.some((reference) => reference.name.startsWith(RUN_OUTPUT_PREFIX))
  );
}

/**
 * Refuses entries that name run outputs other than as one plain name (`run/NAME`, optionally `run/NAME?`): an
 * output has no versions, patterns over them and alternatives mixing them are not offered.
 */
export function checkRunEntries(entries: readonly RequestedEntry[]): void {
  const wrong = entries.filter(
    (entry) =>
      namesRunOutputs(entry) &&
      (entry.isPattern || entry.alternatives.length !== 1 || entry.alternatives[0]?.version !== undefined),
  );
  if (wrong.length === 0) return;
  throw new BrokerError(
    'invalid_request',
    `run outputs are read one name at a time: ${wrong.map((entry) => JSON.stringify(entry.raw)).join(', ')}`,
    {
      hint: 'ask for "run/NAME" (or "run/NAME?" when it may be absent); run outputs have no versions, and patterns and alternatives (a|b) do not cover them',
    },
  );
}

/** Reads the outputs of the exchange's own run and opens them, to be sealed to its recipient like secrets. */
export class RunOutputReader {
  constructor(
    private readonly records: RunOutputRecords,
    private readonly keys: RunOutputKeys,
  ) {}

  /**
   * The unexpired outputs of `names` (granted `run/NAME` entries) put in the token's run by its issuer; a required
   * one that is missing is not found, whether it was never put, expired, put by another run or sealed to a dropped
   * key (another run's outputs are never revealed).
   */
  async read(
    verified: VerifiedToken,
    names: ReadonlyMap<string, { readonly required: boolean; readonly entry: string }>,
    now: Date,
  ): Promise<ReadOutputs> {
    const binding = requireRunBinding(verified);
    const found = await this.records.find(
      binding.issuer,
      binding.run,
      [...names.keys()],
      Math.floor(now.getTime() / 1000),
    );
    await this.keys.holdAll(found.map((output) => output.keyId));
    const released = found.map((output) => ({
      name: output.name,
      version: output.version,
      value: this.valueOf(output.name, this.keys.open(output.sealed, output.keyId), binding),
    }));
    const stored = new Set(found.map((output) => output.name));
    const notFound = [...names].filter(([name, { required }]) => required && !stored.has(name));
    return {
      released,
      putRequestIds: new Map(found.map((output) => [output.name, output.requestId])),
      notFound: notFound.map(([, { entry }]) => entry),
    };
  }

  /** The value of a stored output; one that does not open, or holds another name, is an integrity failure. */
  private valueOf(name: string, opened: OpenedBox | undefined, binding: RunBinding): string {
    if (opened === undefined)
      throw new SecretIntegrityError(`run output "${name}" does not open with its run-output key`);
    const text = opened.plaintext.toString('utf8');
    opened.plaintext.fill(0);
    const value = storedOutputValue(text, name.slice(RUN_OUTPUT_PREFIX.length), binding);
    if (value === undefined)
      throw new SecretIntegrityError(`run output "${name}" holds another output's box or another run's`);
    return value;
  }
}
