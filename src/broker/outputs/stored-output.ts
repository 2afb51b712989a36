import type { RunBinding } from './run-binding.js';

/**
 * What the broker stores for an output: the value sealed again to the run-output key together with the run it
 * was put in. A stored box is therefore not a put box (a put box holds exactly {name, value}), so one taken from
 * the database or a backup cannot be put into another run; and a read checks the run inside against its own.
 */
interface StoredPayload {
  readonly name: string;
  readonly value: string;
  readonly issuer: string;
  readonly run: string;
}

export function encodeStoredOutput(name: string, value: string, binding: RunBinding): Buffer {
  const payload: StoredPayload = { name, value, issuer: binding.issuer, run: binding.run };
  return Buffer.from(JSON.stringify(payload), 'utf8');
}

/** The value of a stored output when it holds `name` and was put in `binding`'s run; undefined otherwise. */
export function storedOutputValue(text: string, name: string, binding: RunBinding): string | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const stored = payload as Partial<Record<keyof StoredPayload, unknown>>;
  const holds =
    Object.keys(payload).length === 4 &&
    stored.name === name &&
    typeof stored.value === 'string' &&
    stored.issuer === binding.issuer &&
    stored.run === binding.run;
  return holds ? (stored.value as string) : undefined;
}
