import type { Glob } from '../../protocol/glob.js';
import type { ClaimMatcher } from './matchers.js';
import type { BucketLimit } from '../traffic/token-bucket.js';

export interface IssuerConfig {
  readonly name: string;
  readonly url: string;
  readonly algorithms: readonly string[];
  readonly maxTokenAgeSeconds: number;
  /** "jti" (required claim) or "token" (the hash of the whole token, for issuers without jti). */
  readonly replayKey: 'jti' | 'token';
}

export interface CompiledClaimBinding {
  readonly claim: string;
  readonly matcher: ClaimMatcher;
  /** The matcher as written in the YAML (failsafe: strings, lists and maps of strings). */
  readonly spec: unknown;
  readonly line: number;
}

export interface CompiledSecretGrant {
  readonly pattern: string;
  readonly line: number;
  /** The name or secret-name glob; a name compiles to a literal glob. */
  readonly glob: Glob;
}

export interface CompiledRule {
  readonly name: string;
  readonly issuer: string;
  readonly line: number;
  /** In the order the policy writes them (for explain output). */
  readonly claims: readonly CompiledClaimBinding[];
  /** The same, cheapest matcher first: a token is refused by a rule at the first claim that fails. */
  readonly claimsByCost: readonly CompiledClaimBinding[];
  readonly secrets: readonly CompiledSecretGrant[];
}

/** A validated policy with every matcher compiled once. */
export interface CompiledPolicy {
  readonly source: string;
  readonly audience: string;
  readonly issuers: ReadonlyMap<string, IssuerConfig>;
  readonly issuersByUrl: ReadonlyMap<string, IssuerConfig>;
  readonly rules: readonly CompiledRule[];
  readonly limits: { readonly perSourceIp: BucketLimit; readonly perWorkload: BucketLimit };
}
