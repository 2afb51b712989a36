import { parseRequestedEntry, secretNameProblem, type RequestedEntry } from '../protocol/secret-names.js';
import { EXCHANGE_PATH, parseExchangeResponse, type ExchangeResponse } from '../protocol/wire-shapes.js';
import { callBroker, type BrokerCallOptions } from './broker-calls.js';
import { itemsTaken, referenceText, winnerOf } from './entry-resolution.js';
import { ResponseIntegrityError } from './errors.js';
import {
  encodeRecipient,
  newRecipientKeyPair,
  openSealedPayload,
  wipeKeyPair,
  type RecipientKeyPair,
} from './sealed-box.js';

export type { RetryNotice } from './broker-calls.js';

export interface ReleasedSecret {
  readonly name: string;
  readonly version: number;
  readonly value: string;
}

export interface FetchSecretsOptions extends BrokerCallOptions {
  /**
   * Request entries: names (each optionally `NAME@N`, or alternatives `a|b`), patterns, "?" for optional
   * (already validated or validated here).
   */
  readonly entries: readonly string[];
}

export interface FetchSecretsResult {
  readonly requestId: string;
  readonly secrets: readonly ReleasedSecret[];
}

/**
 * The largest exchange answer read. Far above any real one (a pattern's hundreds of secrets of tens of KiB
 * each), and still a bound: a broker, or whatever answers in its place, cannot make the job read without end.
 */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Exchanges OIDC tokens for sealed secrets: one fresh key pair per call, a fresh token per attempt, retries
 * with full-jitter backoff on network errors, 429 (honouring Retry-After) and 5xx only, within one deadline.
 * Every box is opened and checked against its entry and the request before anything is returned.
 */
export async function fetchSecrets(options: FetchSecretsOptions): Promise<FetchSecretsResult> {
  const entries = options.entries.map(parseRequestedEntry);
  const keyPair = await newRecipientKeyPair();
  try {
    const response = await callBroker(options, {
      path: EXCHANGE_PATH,
      what: 'the exchange',
      body: JSON.stringify({
        recipient: encodeRecipient(keyPair),
        secrets: entries.map((entry) => entry.raw),
      }),
      maxResponseBytes: MAX_RESPONSE_BYTES,
      parse: parseExchangeResponse,
      shape: 'an exchange response',
      // The boxes are sealed to this key: a token bound to it is worth nothing with any other.
      bindingKey: keyPair,
    });
    return { requestId: response.request_id, secrets: openAndCheck(response, entries, keyPair) };
  } finally {
    wipeKeyPair(keyPair);
  }
}

/** "x" version 3, for messages about the answer. */
const shown = (item: { name: string; version: number }): string => `"${item.name}" version ${item.version}`;

/**
 * Checks what was released against what was asked for, then opens every box and checks it against its item.
 * Each secret must be taken by an entry (a names entry's first alternative in the answer, at the version it
 * names or the highest returned; a pattern's match at the highest version returned), each names entry that
 * is not optional must have one, and each box must hold the name and version it is listed under.
 */
function openAndCheck(
  response: ExchangeResponse,
  entries: readonly RequestedEntry[],
  keyPair: RecipientKeyPair,
): ReleasedSecret[] {
  const seen = new Set<string>();
  for (const item of response.secrets) {
    // Checked before the name is used or shown anywhere: a valid name holds no control character.
    if (secretNameProblem(item.name) !== undefined)
      throw new ResponseIntegrityError(
        'the broker returned a secret under a name that is not a valid secret name',
      );
    const key = `${item.name}@${item.version}`;
    if (seen.has(key)) throw new ResponseIntegrityError(`the broker returned ${shown(item)} twice`);
    seen.add(key);
  }
  const taken = itemsTaken(entries, response.secrets);
  const extra = response.secrets.find((item) => !taken.has(item));
  if (extra !== undefined) {
    throw new ResponseIntegrityError(
      `the broker returned ${shown(extra)}, which was not requested (or an earlier alternative of its entry was returned too)`,
    );
  }
  const missing = entries.filter(
    (entry) => !entry.isPattern && !entry.optional && winnerOf(entry, response.secrets) === undefined,
  );
  if (missing.length > 0) {
    throw new ResponseIntegrityError(
      `the broker's answer lacks ${missing.map((entry) => `"${entry.alternatives.map(referenceText).join('|')}"`).join(', ')}`,
    );
  }
  return response.secrets.map((item) => {
    const payload = openSealedPayload(item.sealed, keyPair);
    if (payload.name !== item.name || payload.version !== item.version) {
      throw new ResponseIntegrityError(
        `the box listed as ${shown(item)} holds ${shown(payload)}; boxes were swapped or altered`,
      );
    }
    return { name: payload.name, version: payload.version, value: payload.value };
  });
}
