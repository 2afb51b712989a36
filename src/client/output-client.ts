import { setTimeout as sleepFor } from 'node:timers/promises';
import { BoundedRequestError } from '../protocol/bounded-request.js';
import { printable } from '../protocol/printable.js';
import { secretNameProblem } from '../protocol/secret-names.js';
import {
  encodeOutputPayload,
  MAX_OUTPUT_VALUE_BYTES,
  MAX_OUTPUTS_PER_REQUEST,
  OUTPUTS_PATH,
  parseOutputsResponse,
  parseOutputTtl,
  parseRunOutputKey,
  type OutputPayload,
  type OutputsResponse,
  type OutputToPut,
  type RunOutputKey,
  type StoredOutput,
} from '../protocol/wire-shapes.js';
import { backoffDelayMs } from './backoff.js';
import { callBroker, getBrokerInfo, type BrokerCallOptions } from './broker-calls.js';
import { normalBrokerUrl } from './broker-url.js';
import { BrokerUnreachableError, ResponseIntegrityError } from './errors.js';
import { newRecipientKeyPair, sealBox, wipeKeyPair } from './sealed-box.js';
import { InputError } from './secret-lines.js';

export type { StoredOutput } from '../protocol/wire-shapes.js';

export interface PutOutputsOptions extends BrokerCallOptions {
  /** Each name without `run/`, each value 1..64 KiB of UTF-8; 1..20 of them, each name once. */
  readonly outputs: readonly OutputPayload[];
  /** How long every output lives (`90s`, `10m`, `6h`, `1d`); the broker's default (6h) when undefined. */
  readonly ttl?: string;
}

export interface PutOutputsResult {
  readonly requestId: string;
  /** The run-output key the values were sealed to. */
  readonly keyId: string;
  /** One per output, in the order given. */
  readonly outputs: readonly StoredOutput[];
}

/** The answer names and dates, a few hundred bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Hands values to later jobs of this run: reads the broker's run-output key (/v1/info), seals each
 * `{name, value}` to it, and POSTs them with a fresh ID token per attempt (the retries and the one deadline of
 * every broker call cover both requests). No value leaves this process unsealed.
 */
export async function putOutputs(options: PutOutputsOptions): Promise<PutOutputsResult> {
  checkOutputs(options.outputs, options.ttl);
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  const key = await runOutputKey(options, deadline);
  const recipient = Buffer.from(key.run_output_key, 'base64');
  const outputs: OutputToPut[] = [];
  for (const output of options.outputs) {
    const payload = encodeOutputPayload(output);
    try {
      outputs.push({
        name: output.name,
        sealed: Buffer.from(await sealBox(payload, recipient)).toString('base64'),
        ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
      });
    } finally {
      payload.fill(0);
    }
  }
  // A key of its own, only to bind the token and prove it holds the key: the proof covers the outputs sent.
  const keyPair = await newRecipientKeyPair();
  let response: OutputsResponse;
  try {
    response = await callBroker(
      { ...options, timeoutMs: Math.max(0, deadline - now()) },
      {
        path: OUTPUTS_PATH,
        what: 'the put of outputs',
        body: JSON.stringify({ outputs }),
        maxResponseBytes: MAX_RESPONSE_BYTES,
        parse: parseOutputsResponse,
        shape: 'an outputs response',
        bindingKey: keyPair,
        provesKey: true,
      },
    );
  } finally {
    wipeKeyPair(keyPair);
  }
  checkStored(response, options.outputs);
  return { requestId: response.request_id, keyId: key.run_output_key_id, outputs: response.outputs };
}

/** What the broker would refuse anyway, refused before a token is spent. */
function checkOutputs(outputs: readonly OutputPayload[], ttl: string | undefined): void {
  const problems: string[] = [];
  if (outputs.length === 0 || outputs.length > MAX_OUTPUTS_PER_REQUEST)
    problems.push(`a put takes 1 to ${MAX_OUTPUTS_PER_REQUEST} outputs, not ${outputs.length}`);
  const names = new Set<string>();
  for (const { name, value } of outputs) {
    const nameProblem = secretNameProblem(name);
    if (nameProblem !== undefined) problems.push(`output "${printable(name)}": ${nameProblem}`);
    else if (names.has(name)) problems.push(`output "${name}" is named twice`);
    names.add(name);
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes === 0 || bytes > MAX_OUTPUT_VALUE_BYTES)
      problems.push(
        `output "${printable(name)}" holds ${bytes} bytes; a value holds 1 to ${MAX_OUTPUT_VALUE_BYTES}`,
      );
  }
  if (ttl !== undefined) {
    const seconds = parseOutputTtl(ttl);
    if (typeof seconds === 'string') problems.push(`the ttl "${printable(ttl)}": ${seconds}`);
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'));
}

/**
 * The broker's run-output key from /v1/info, retried as a broker call is (network errors, no answer in time,
 * 5xx) within the same deadline and retries; any other failure, or an answer without a well-formed key, ends it.
 */
async function runOutputKey(options: BrokerCallOptions, deadline: number): Promise<RunOutputKey> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  let reason = 'no time left';
  for (let attempt = 0; attempt <= options.retries; attempt += 1) {
    const remaining = deadline - now();
    if (remaining <= 0) break;
    let info: Record<string, unknown>;
    try {
      info = await (options.brokerInfo ?? ((ms: number) => getBrokerInfo(options.brokerUrl, ms)))(remaining);
    } catch (error) {
      if (!(error instanceof BoundedRequestError) || !worthRetrying(error)) throw error;
      reason = error.message;
      if (attempt === options.retries) break;
      const delayMs = backoffDelayMs(attempt, random);
      if (now() + delayMs >= deadline) break;
      options.onRetry?.({ attempt: attempt + 1, delayMs, reason: error.systemCode ?? error.message });
      await sleep(delayMs);
      continue;
    }
    return keyOf(info, options.brokerUrl);
  }
  throw new BrokerUnreachableError(
    `cannot read the run-output key from ${normalBrokerUrl(options.brokerUrl)}/v1/info: ${reason}`,
  );
}

function worthRetrying(error: BoundedRequestError): boolean {
  return (
    error.reason === 'network' ||
    error.reason === 'deadline' ||
    (error.reason === 'status' && (error.status ?? 0) >= 500)
  );
}

function keyOf(info: Record<string, unknown>, brokerUrl: string): RunOutputKey {
  const key = parseRunOutputKey(info);
  if (key !== undefined) return key;
  const where = `${normalBrokerUrl(brokerUrl)}/v1/info`;
  if (info.run_output_key === undefined && info.run_output_key_id === undefined)
    throw new ResponseIntegrityError(
      `${where} publishes no run-output key, so this broker does not take outputs (it predates them: upgrade it)`,
    );
  throw new ResponseIntegrityError(
    `${where} publishes a run-output key that is not a base64 X25519 public key with a key id`,
  );
}

/** The answer must name every output put, once each, in the order sent, and nothing else. */
function checkStored(response: OutputsResponse, outputs: readonly OutputPayload[]): void {
  const sent = outputs.map((output) => output.name);
  const stored = response.outputs.map((output) => output.name);
  if (stored.length !== sent.length || stored.some((name, index) => name !== sent[index]))
    throw new ResponseIntegrityError(
      `the broker confirmed the outputs ${stored.map((name) => `"${printable(name)}"`).join(', ') || 'none'}, ` +
        `not the ones put (${sent.map((name) => `"${name}"`).join(', ')})`,
    );
}
