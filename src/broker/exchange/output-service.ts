import { printable } from '../../protocol/printable.js';
import { parseRequestedEntry } from '../../protocol/secret-names.js';
import {
  MAX_OUTPUT_VALUE_BYTES,
  parseOutputPayload,
  RUN_OUTPUT_PREFIX,
  type OutputsResponse,
} from '../../protocol/wire-shapes.js';
import type { OutputAuditRecord, StoredOutputRecord } from '../audit/audit-records.js';
import { workloadIdentity } from '../audit/workload.js';
import { BrokerError } from '../errors.js';
import { notGrantedRefusal, refusalProblem } from './refusals.js';
import {
  startTrail,
  tokenReplayed,
  workloadRecordFields,
  type RefusedRequest,
  type RequestContext,
  type Result,
  type Trail,
  type WorkloadRequests,
} from './workload-request.js';
import type { OutputRow, RunOutputRecords } from '../store/interfaces.js';
import { requireRunBinding, type RunBinding } from '../outputs/run-binding.js';
import type { RunOutputKeys } from '../outputs/run-output-keys.js';
import { encodeStoredOutput } from '../outputs/stored-output.js';
import { provenKey, type KeyProofHeader } from './key-binding-check.js';

/** One output as the HTTP layer read it: its name (without `run/`), its box, its time to live. */
export interface IncomingOutput {
  readonly name: string;
  readonly sealed: Buffer;
  readonly ttlSeconds: number;
}

/** A put of run outputs (POST /v1/outputs) as the HTTP layer read it. */
export interface IncomingOutputs extends RequestContext {
  /** The OIDC ID token, not yet verified. */
  readonly token: string;
  readonly outputs: readonly IncomingOutput[];
  /** The key the token is bound to and the proof of holding it, when the request sent one. */
  readonly keyProof: KeyProofHeader | undefined;
}

export interface OutputDependencies {
  readonly requests: WorkloadRequests;
  readonly records: RunOutputRecords;
  readonly keys: RunOutputKeys;
}

/** What a put's record adds to the trail. */
interface PutTrail {
  readonly trail: Trail;
  binding: RunBinding | undefined;
  stored: readonly StoredOutputRecord[];
}

/**
 * Cross-job outputs (POST /v1/outputs): a job's values, sealed to the run-output key, stored for the later jobs
 * of its run. Token checks and rules as in an exchange (a rule must grant `run/NAME`); each box is opened here
 * only to check the name inside is the name outside, then stored as received, still sealed. The token is spent
 * with the outputs, in one transaction, and the audit record names them, never a value.
 */
export class OutputService {
  constructor(private readonly deps: OutputDependencies) {}

  put(request: IncomingOutputs | RefusedRequest): Promise<OutputsResponse> {
    const refused = 'problem' in request;
    const entries = refused ? [] : request.outputs.map((output) => `${RUN_OUTPUT_PREFIX}${output.name}`);
    const put: PutTrail = {
      trail: startTrail(request, request.token, entries),
      binding: undefined,
      stored: [],
    };
    return this.deps.requests.handle(
      put.trail,
      refused ? request.problem : undefined,
      () => this.run(request as IncomingOutputs, put),
      (result) => auditRecord(put, result),
    );
  }

  private async run(request: IncomingOutputs, put: PutTrail): Promise<OutputsResponse> {
    const { requests, records } = this.deps;
    const { trail } = put;
    const admitted = await requests.admit(
      request.token,
      trail,
      provenKey(request.keyProof, request.token, (jobKey, proof, proven) =>
        this.deps.keys.verifyKeyProof(jobKey, proof, proven),
      ),
    );
    const binding = requireRunBinding(admitted.verified);
    put.binding = binding;
    trail.tokenUse = admitted.tokenUse;
    const entries = trail.requested.map(parseRequestedEntry);
    const { plan, heldBack, budget, now } = await requests.plan(entries, admitted, trail, () =>
      Promise.resolve([]),
    );
    if (plan.notGranted.length > 0) {
      const { policy, verified } = admitted;
      throw refusalProblem(
        trail,
        notGrantedRefusal(plan.notGranted, [], { entries, rules: policy.rules, verified, heldBack, budget }),
      );
    }
    const rows = await this.checkedRows(request.outputs, now, binding);
    const identity = workloadIdentity(admitted.verified.claims);
    const outcome = await records.put(
      {
        issuer: binding.issuer,
        run: binding.run,
        requestId: trail.context.requestId,
        putter: JSON.stringify({
          repository: identity.repository,
          workflow: identity.workflow,
          sub: identity.sub,
        }),
        createdAt: now.toISOString(),
        outputs: rows,
      },
      admitted.tokenUse,
    );
    if (outcome.refused === 'token_replayed') {
      requests.tokenUseDecided(trail);
      throw tokenReplayed();
    }
    if (outcome.refused === 'key_dropped') throw droppedKey(outcome.keyIds);
    requests.tokenUseDecided(trail);
    put.stored = rows.map((row, index) => {
      const version = outcome.versions.get(row.name) ?? 1;
      return {
        name: row.name,
        version,
        replaced: version > 1,
        key_id: row.keyId,
        ttl_seconds: (request.outputs[index] as IncomingOutput).ttlSeconds,
        expires_at: new Date(row.expiresAtSeconds * 1000).toISOString(),
      };
    });
    return {
      request_id: trail.context.requestId,
      outputs: rows.map((row, index) => ({
        name: (request.outputs[index] as IncomingOutput).name,
        expires_at: new Date(row.expiresAtSeconds * 1000).toISOString(),
      })),
    };
  }

  /**
   * The rows to store, once every box opened with a run-output key and holds its own name and a value of a size
   * an output may have. Each value is sealed again with the run it was put in (stored-output.ts) and dropped.
   */
  private async checkedRows(
    outputs: readonly IncomingOutput[],
    now: Date,
    binding: RunBinding,
  ): Promise<OutputRow[]> {
    const { keys } = this.deps;
    let opened = outputs.map((output) => keys.open(output.sealed));
    if (opened.includes(undefined) && (await keys.refreshIfRotated()))
      opened = opened.map((box, index) => box ?? keys.open((outputs[index] as IncomingOutput).sealed));
    const problems: string[] = [];
    const rows: OutputRow[] = [];
    for (const [index, output] of outputs.entries()) {
      const box = opened[index];
      if (box === undefined) {
        problems.push(`"${output.name}" is not sealed to a run-output key this broker holds`);
        continue;
      }
      const checked = checkedPayload(output.name, box.plaintext);
      if (typeof checked === 'string') {
        problems.push(`"${output.name}" ${checked}`);
        continue;
      }
      const stored = encodeStoredOutput(output.name, checked.value, binding);
      const sealed = keys.seal(stored, box.keyId);
      stored.fill(0);
      rows.push({
        name: `${RUN_OUTPUT_PREFIX}${output.name}`,
        keyId: box.keyId,
        sealed,
        expiresAtSeconds: Math.floor(now.getTime() / 1000) + output.ttlSeconds,
      });
    }
    if (problems.length === 0) return rows;
    throw new BrokerError('invalid_request', `outputs not stored: ${problems.join('; ')}`, {
      hint: `seal each output with crypto_box_seal to the run_output_key of GET /v1/info (fetch it again: the key may have been rotated) as the UTF-8 JSON {"name": NAME, "value": VALUE}, NAME being the output's own name and VALUE 1 to ${MAX_OUTPUT_VALUE_BYTES} bytes`,
    });
  }
}

/**
 * The value of an opened box, or what is wrong with it: it must hold the JSON {name, value} with the name it
 * is put under, so a box cannot be replayed under another name. The plaintext is wiped; the value never leaves.
 */
function checkedPayload(name: string, plaintext: Buffer): string | { readonly value: string } {
  let payload: unknown;
  try {
    payload = JSON.parse(plaintext.toString('utf8'));
  } catch {
    payload = undefined;
  } finally {
    plaintext.fill(0);
  }
  const parsed = parseOutputPayload(payload);
  if (parsed === undefined) return 'does not hold the JSON {"name", "value"}';
  if (parsed.name !== name)
    return `holds the box of another output (${printable(JSON.stringify(parsed.name.slice(0, 64)))}); the name inside must be the name it is put under`;
  const bytes = Buffer.byteLength(parsed.value, 'utf8');
  if (bytes === 0) return 'has an empty value';
  if (bytes > MAX_OUTPUT_VALUE_BYTES)
    return `has a value of ${bytes} bytes; the limit is ${MAX_OUTPUT_VALUE_BYTES}`;
  return { value: parsed.value };
}

function droppedKey(keyIds: readonly string[]): BrokerError {
  return new BrokerError(
    'invalid_request',
    `outputs not stored: they are sealed to run-output key ${keyIds.join(', ')}, which was dropped`,
    { hint: 'fetch GET /v1/info again and seal to its run_output_key' },
  );
}

function auditRecord(put: PutTrail, result: Result<OutputsResponse>): OutputAuditRecord {
  return {
    kind: 'output',
    ...workloadRecordFields(put.trail, result.failure),
    run: put.binding?.run ?? null,
    outputs: result.response === undefined ? [] : put.stored,
  };
}
