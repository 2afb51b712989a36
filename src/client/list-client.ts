import {
  parseRequestedEntry,
  RequestedEntryError,
  secretNameProblem,
  type RequestedEntry,
} from '../protocol/secret-names.js';
import { LIST_PATH, parseListResponse, type ListedSecret } from '../protocol/wire-shapes.js';
import { callBroker, type BrokerCallOptions } from './broker-calls.js';
import { ResponseIntegrityError } from './errors.js';
import { newRecipientKeyPair, wipeKeyPair } from './sealed-box.js';

export type { ListedSecret } from '../protocol/wire-shapes.js';

export interface ListSecretsOptions extends BrokerCallOptions {
  /** Names and patterns to narrow the list to (no versions, no alternatives); none lists everything. */
  readonly entries: readonly string[];
}

/** Names only, each a few hundred bytes: a bound far above the broker's own cap on the names it reads. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Asks the broker which secrets this workload may read and are stored, with their current versions, never a
 * value: the same token, retries and deadline as an exchange (the token is spent). Every name is checked: a
 * valid secret name, listed once, and matching an entry when entries were given.
 */
export async function listSecrets(options: ListSecretsOptions): Promise<ListedSecret[]> {
  const entries = options.entries.map(parseRequestedEntry);
  for (const entry of entries) {
    const problem = listEntryProblem(entry);
    if (problem !== undefined) throw new RequestedEntryError(`${JSON.stringify(entry.raw)}: ${problem}`);
  }
  // A key of its own, only to bind the token and prove it holds the key: a list releases nothing sealed.
  const keyPair = await newRecipientKeyPair();
  try {
    const response = await callBroker(options, {
      path: LIST_PATH,
      what: 'the list',
      body: JSON.stringify(entries.length === 0 ? {} : { secrets: entries.map((entry) => entry.raw) }),
      maxResponseBytes: MAX_RESPONSE_BYTES,
      parse: parseListResponse,
      shape: 'a list response',
      bindingKey: keyPair,
      provesKey: true,
    });
    checkListed(response.secrets, entries);
    return response.secrets;
  } finally {
    wipeKeyPair(keyPair);
  }
}

function checkListed(secrets: readonly ListedSecret[], entries: readonly RequestedEntry[]): void {
  const seen = new Set<string>();
  for (const secret of secrets) {
    // Checked before the name is used or shown anywhere: a valid name holds no control character.
    if (secretNameProblem(secret.name) !== undefined)
      throw new ResponseIntegrityError('the broker listed a name that is not a valid secret name');
    if (seen.has(secret.name)) throw new ResponseIntegrityError(`the broker listed "${secret.name}" twice`);
    seen.add(secret.name);
    if (entries.length > 0 && !entries.some((entry) => entry.glob.test(secret.name)))
      throw new ResponseIntegrityError(`the broker listed "${secret.name}", which no entry asked for`);
  }
}

/** Why an entry cannot narrow a list (only names and patterns can), or undefined when it can. */
export function listEntryProblem(entry: RequestedEntry): string | undefined {
  if (entry.alternatives.length > 1 || entry.alternatives[0]?.version !== undefined)
    return 'a list takes names and patterns: versions (NAME@N) and alternatives (a|b) are for fetching';
  return undefined;
}
