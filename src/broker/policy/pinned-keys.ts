/**
 * Issuer keys pinned in the policy (`jwks_file` / `jwks`): read and checked when the policy loads, used instead
 * of discovery, so the broker sends no request to that issuer at all.
 */
import type { JWK } from 'jose';

/** One pinned public key and the validity its file declares (seconds since the epoch), when it declares one. */
export interface PinnedKey {
  readonly kid: string | undefined;
  readonly jwk: JWK;
  readonly notBefore: number | undefined;
  readonly notAfter: number | undefined;
}

export interface PinnedKeySet {
  /** Where the keys came from, for messages: `jwks_file /etc/secrets-broker/ghes.jwks.json` or `inline jwks`. */
  readonly source: string;
  readonly keys: readonly PinnedKey[];
}

/** Where an issuer's pinned keys are: a file (relative to the policy file's directory) or inline in the YAML. */
export type PinnedKeysSpec = { readonly file: string } | { readonly inline: unknown };

/** The pinned keys, checked, or every problem found. Pinned keys are refused until the verifier uses them. */
export function compilePinnedKeys(
  spec: PinnedKeysSpec,
  policyFile: string,
): PinnedKeySet | { readonly problems: readonly string[] } {
  void spec;
  void policyFile;
  return {
    problems: [
      'pinned keys (jwks_file, jwks) are not supported by this broker yet: remove them to use discovery',
    ],
  };
}
