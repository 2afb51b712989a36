/**
 * The broker's half of key binding (docs/threat-model.md "Stolen ID tokens: key binding"): a bound token is
 * accepted only with the key its audience names, an unbound one only where its issuer does not require binding.
 * Checked after the signature and before the token is spent, so a refused pairing spends nothing.
 */
import {
  audienceSpelling,
  digestNamesKey,
  KEY_BINDING_SEPARATOR,
  KEY_PROOF_HEADER_NAME,
  type ProvenRequest,
} from '../../protocol/key-binding.js';
import { BrokerError } from '../errors.js';
import type { VerifiedToken } from '../oidc/token-verifier.js';

/** The key a request presents: the exchange's recipient, or a list's or put's proven key. */
export type PresentedKey =
  | { readonly kind: 'recipient'; readonly publicKey: Buffer }
  | { readonly kind: 'proof'; readonly publicKey: Buffer; readonly proven: () => Promise<boolean> };

/** A list's or put's Secrets-Key-Proof header as the HTTP layer read it, with the body it covers. */
export interface KeyProofHeader {
  readonly jobKey: Buffer;
  readonly proof: Buffer;
  /** The route's path (as the client addressed it, whatever proxy prefix came before). */
  readonly path: string;
  /** The request body exactly as received (as UTF-8). */
  readonly body: string;
}

/** Checks a key proof against the broker's run-output keys. */
export type KeyProofVerifier = (jobKey: Buffer, proof: Buffer, request: ProvenRequest) => Promise<boolean>;

/** The key a list or put presents through its proof header; undefined without one. */
export function provenKey(
  header: KeyProofHeader | undefined,
  token: string,
  verify: KeyProofVerifier,
): PresentedKey | undefined {
  if (header === undefined) return undefined;
  return {
    kind: 'proof',
    publicKey: header.jobKey,
    proven: () =>
      verify(header.jobKey, header.proof, {
        method: 'POST',
        path: header.path,
        token,
        body: Buffer.from(header.body, 'utf8'),
      }),
  };
}

/** Throws key_binding_required or key_binding_mismatch when the token and the presented key do not go together. */
export async function checkKeyBinding(
  verified: VerifiedToken,
  presented: PresentedKey | undefined,
): Promise<void> {
  const { issuer, boundKeyDigest } = verified;
  if (boundKeyDigest === undefined) {
    if (issuer.keyBinding !== 'required') return;
    throw new BrokerError(
      'key_binding_required',
      `issuer "${issuer.name}" requires tokens bound to the request's key (key_binding: required), and this token's audience is not bound`,
      {
        hint: `request the ID token with the audience ${JSON.stringify(`${audienceSpelling(issuer.audience)}${KEY_BINDING_SEPARATOR}<key digest>`)} (the action and secrets-fetch do this by default on GitHub); a provider that fixes the audience (GitLab id_tokens) cannot bind, so an admin sets key_binding: optional on that issuer`,
      },
    );
  }
  if (presented === undefined) {
    throw new BrokerError(
      'key_binding_mismatch',
      `the token is bound to a key, and this request presents none (no ${KEY_PROOF_HEADER_NAME} header)`,
      {
        hint: `send the key the token was bound to, with its proof, in the ${KEY_PROOF_HEADER_NAME} header (the clients do); the token was not spent`,
      },
    );
  }
  if (!digestNamesKey(boundKeyDigest, issuer.audience, presented.publicKey)) {
    throw new BrokerError(
      'key_binding_mismatch',
      presented.kind === 'recipient'
        ? "the token is bound to another key than this request's recipient"
        : `the token is bound to another key than the one in the ${KEY_PROOF_HEADER_NAME} header`,
      {
        hint: 'a bound token works only with the key it was requested for: request a fresh token bound to this key; the token was not spent',
      },
    );
  }
  if (presented.kind === 'proof' && !(await presented.proven())) {
    throw new BrokerError(
      'key_binding_mismatch',
      `the ${KEY_PROOF_HEADER_NAME} proof does not verify: this request does not show it holds the private key the token is bound to`,
      {
        hint: "the proof covers the token and the exact body and is keyed with the broker's current run-output key: read /v1/info again and retry with a fresh token; the token was not spent",
      },
    );
  }
}
