import { printable } from '../protocol/printable.js';
import { secretNameProblem } from '../protocol/secret-names.js';
import {
  encodeOutputPayload,
  MAX_OUTPUT_VALUE_BYTES,
  MAX_OUTPUTS_PER_REQUEST,
  OUTPUTS_PATH,
  parseOutputsResponse,
  parseOutputTtl,
  type OutputPayload,
  type OutputsResponse,
  type OutputToPut,
  type StoredOutput,
} from '../protocol/wire-shapes.js';
import { callBroker, runOutputKey, type BrokerCallOptions } from './broker-calls.js';
import { ResponseIntegrityError } from './errors.js';
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
        runOutputKey: recipient,
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
