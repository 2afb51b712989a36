import type { RequestedEntry } from '../../protocol/secret-names.js';
import type { ListResponse } from '../../protocol/wire.js';
import type { ListAuditRecord } from '../audit/audit-records.js';
import { BrokerError } from '../errors.js';
import type { SecretVault } from '../store/secret-vault.js';
import { tooWideProblem } from './refusals.js';
import { provenKey, type KeyProofHeader, type KeyProofVerifier } from './key-binding-check.js';
import {
  parseEntries,
  startTrail,
  workloadRecordFields,
  type RefusedRequest,
  type RequestContext,
  type Result,
  type Trail,
  type WorkloadRequests,
} from './workload-request.js';

/** Names (with versions) one list record keeps; `listed_count` says how many were answered. */
export const MAX_LISTED_AUDITED = 100;
/** What a list without entries asks for: every name the workload may read. */
const EVERYTHING = '**';

/** A list request as the HTTP layer read it. */
export interface IncomingList extends RequestContext {
  /** The OIDC ID token, not yet verified. */
  readonly token: string;
  /** Names and patterns that narrow the list; undefined lists everything the workload may read. */
  readonly secrets: readonly string[] | undefined;
  /** The key the token is bound to and the proof of holding it, when the request sent one. */
  readonly keyProof: KeyProofHeader | undefined;
}

export interface ListDependencies {
  readonly requests: WorkloadRequests;
  readonly vault: SecretVault;
  readonly verifyKeyProof: KeyProofVerifier;
}

/**
 * Discovery (POST /v1/list): the names, and their current versions, that the workload may read now and that are
 * stored; never a value. Token checks, rules and their conditions as in an exchange; the token is spent with the
 * audit record. Secrets' own conditions do not hide names: an expired secret is listed, and refused by exchanges.
 */
export class ListService {
  constructor(private readonly deps: ListDependencies) {}

  list(request: IncomingList | RefusedRequest): Promise<ListResponse> {
    const refused = 'problem' in request;
    const trail = startTrail(request, request.token, refused ? [] : (request.secrets ?? []));
    return this.deps.requests.handle(
      trail,
      refused ? request.problem : undefined,
      () => this.run(request as IncomingList, trail),
      (result) => auditRecord(trail, result),
    );
  }

  private async run(request: IncomingList, trail: Trail): Promise<ListResponse> {
    const { requests, vault } = this.deps;
    const admitted = await requests.admit(
      request.token,
      trail,
      provenKey(request.keyProof, request.token, this.deps.verifyKeyProof),
    );
    const entries = listEntries(request.secrets);
    trail.tokenUse = admitted.tokenUse;
    // Entries only narrow the list: one that is not granted or matches nothing adds nothing, and is no error.
    const { plan } = await requests.plan(entries, admitted, trail, (prefixes, limit) =>
      vault.currentNames(prefixes, limit),
    );
    if (plan.tooWide.length > 0) throw tooWideProblem(plan.tooWide);
    // Names and version numbers only: a list reads no ciphertext.
    const secrets = await vault.currentVersions([...plan.names.keys()]);
    return { secrets };
  }
}

/** The entries of a list request (everything when none), refused when one names a version or alternatives. */
function listEntries(secrets: readonly string[] | undefined): RequestedEntry[] {
  const entries = parseEntries(secrets ?? [EVERYTHING]);
  const pinned = entries.filter(
    (entry) =>
      entry.alternatives.length > 1 ||
      entry.alternatives.some((reference) => reference.version !== undefined),
  );
  if (pinned.length === 0) return entries;
  throw new BrokerError(
    'invalid_request',
    `a list takes names and patterns, not versions or alternatives: ${pinned.map((entry) => JSON.stringify(entry.raw)).join(', ')}`,
    {
      hint: 'list current names with "NAME" or "prefix/*"; versions (NAME@3) and alternatives (a|b) are for exchanges',
    },
  );
}

function auditRecord(trail: Trail, result: Result<ListResponse>): ListAuditRecord {
  const answered = result.response?.secrets ?? [];
  return {
    kind: 'list',
    ...workloadRecordFields(trail, result.failure),
    listed: answered.slice(0, MAX_LISTED_AUDITED),
    listed_count: answered.length,
  };
}
