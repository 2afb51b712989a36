/**
 * The client's half of key binding (docs/threat-model.md "Stolen ID tokens: key binding"): whether this call
 * binds its tokens to its key, and the proof a list or put sends that it holds that key.
 */
import { formatKeyProofHeader, keyProof, type ProvenRequest } from '../protocol/key-binding.js';
import { sharedSecret, type RecipientKeyPair } from './sealed-box.js';

/**
 * `auto`: bind when the tokens are requested by this client (the GitHub runner) and the broker's /v1/info shows
 * an issuer that takes bound tokens; `on`: always (an error where tokens cannot be bound); `off`: never.
 */
export type KeyBindingChoice = 'auto' | 'on' | 'off';

export const KEY_BINDING_CHOICES: readonly KeyBindingChoice[] = ['auto', 'on', 'off'];

/** The action's input and secrets-fetch's flag: auto, true/on, false/off; undefined for anything else. */
export function parseKeyBindingChoice(text: string): KeyBindingChoice | undefined {
  const word = text.trim().toLowerCase();
  if (word === '' || word === 'auto') return 'auto';
  if (word === 'true' || word === 'on') return 'on';
  if (word === 'false' || word === 'off') return 'off';
  return undefined;
}

/**
 * Whether /v1/info asks for bound tokens: some issuer has key_binding required or optional. A broker that
 * predates key binding lists no key_binding and gets plain tokens; an info that could not be read (undefined)
 * gets bound ones, which every broker that knows binding accepts unless an issuer turned it off.
 */
export function infoTakesBoundTokens(info: Record<string, unknown> | undefined): boolean {
  if (info === undefined) return true;
  const issuers = info.issuers;
  if (!Array.isArray(issuers)) return false;
  return issuers.some((issuer: unknown) => {
    const mode = (issuer as { key_binding?: unknown } | null)?.key_binding;
    return mode === 'required' || mode === 'optional';
  });
}

/** The Secrets-Key-Proof header of a list or put: the job key and an HMAC keyed from X25519(job, broker). */
export function keyProofHeader(
  keyPair: RecipientKeyPair,
  brokerKey: Uint8Array,
  request: ProvenRequest,
): string {
  const shared = sharedSecret(keyPair.privateKey, keyPair.publicKey, brokerKey);
  try {
    return formatKeyProofHeader(keyPair.publicKey, keyProof(shared, keyPair.publicKey, brokerKey, request));
  } finally {
    shared.fill(0);
  }
}
