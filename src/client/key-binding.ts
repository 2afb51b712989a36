/**
 * The client's half of key binding (docs/threat-model.md "Stolen ID tokens: key binding"): whether this call
 * binds its tokens to its key, and the proof a list or put sends that it holds that key.
 */
import { formatKeyProofHeader, keyProof, type ProvenRequest } from '../protocol/key-binding.js';
import { sharedSecret, type RecipientKeyPair } from './sealed-box.js';

/**
 * `auto`: bind whenever the tokens are requested by this client (the GitHub runner), whatever /v1/info says (it is
 * unauthenticated: a forged one must not turn binding off); `on`: the same, and an error where tokens cannot be
 * bound; `off`: never (for an issuer with `key_binding: off`).
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
