import type { Glob } from '../../protocol/glob.js';
import type { ClaimMatcher } from './matchers.js';
import type { BucketLimit } from '../traffic/token-bucket.js';
import type { AddressRanges } from './address-ranges.js';
import type { KeyBindingMode } from './policy-schema.js';
import type { PinnedKeySet } from './pinned-keys.js';

export interface IssuerConfig {
  readonly name: string;
  /** Where the policy names it, for lint findings. */
  readonly line: number;
  readonly url: string;
  readonly algorithms: readonly string[];
  readonly maxTokenAgeSeconds: number;
  /** "jti" (required claim) or "token" (the hash of the whole token, for issuers without jti). */
  readonly replayKey: 'jti' | 'token';
  /** The audience its tokens must carry: its own `audience`, else the policy's. */
  readonly audience: string;
  /** `required`: only tokens bound to the request's key; `optional`: bound ones are checked; `off`: never bound. */
  readonly keyBinding: KeyBindingMode;
  /** Keys pinned in the policy (`jwks_file` / `jwks`): the broker then makes no request to this issuer. */
  readonly pinnedKeys: PinnedKeySet | undefined;
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
  /** The rule's conditions (`when`); undefined when it has none. */
  readonly when: CompiledWhen | undefined;
}

/** `when.source_ips`: the client address must fall in one of these ranges. */
export interface CompiledSourceIps {
  /** As written (normalised to address/prefix), for explain output. */
  readonly ranges: readonly string[];
  readonly list: AddressRanges;
  readonly line: number;
}

/** Minutes since local midnight: start inclusive, end exclusive; end < start is an overnight window. */
export interface CompiledHours {
  readonly startMinute: number;
  readonly endMinute: number;
  readonly text: string;
  readonly line: number;
}

/** `when.time`: local day and time in an IANA time zone. */
export interface CompiledTimeWindow {
  /** Allowed weekdays, 0 = Sunday ... 6 = Saturday; undefined when the rule names no days (every day). */
  readonly days: ReadonlySet<number> | undefined;
  readonly daysText: string | undefined;
  readonly hours: CompiledHours | undefined;
  /** The canonical IANA name. */
  readonly timezone: string;
  readonly line: number;
}

export interface CompiledWhen {
  readonly sourceIps: CompiledSourceIps | undefined;
  readonly time: CompiledTimeWindow | undefined;
  readonly line: number;
}

/**
 * One issuer's rules filed for lookup (built by rule-index.ts): each rule that binds a claim exactly is filed under
 * one such claim and every value it accepts there; the others are scanned. Rules are named by their position in
 * `rules`, so candidates come back in policy order.
 */
export interface IssuerRuleIndex {
  /** Claim name, then exact value, then the positions of the rules filed under it (ascending). */
  readonly byClaim: ReadonlyMap<string, ReadonlyMap<string, readonly number[]>>;
  /** Positions of the rules that bind no claim exactly: candidates for every token of the issuer. */
  readonly scan: readonly number[];
}

/** A validated policy with every matcher compiled once. */
export interface CompiledPolicy {
  readonly source: string;
  readonly audience: string;
  readonly issuers: ReadonlyMap<string, IssuerConfig>;
  readonly issuersByUrl: ReadonlyMap<string, IssuerConfig>;
  readonly rules: readonly CompiledRule[];
  /** The rules by issuer, for matching a token without evaluating every rule. */
  readonly ruleIndex: ReadonlyMap<string, IssuerRuleIndex>;
  readonly limits: { readonly perSourceIp: BucketLimit; readonly perWorkload: BucketLimit };
}
