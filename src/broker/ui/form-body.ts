import { BrokerError } from '../errors.js';
import { readRequestBody } from '../http/read-body.js';
import type { BrokerEnv } from '../http/request-context.js';
import type { Context } from 'hono';

/** The largest form the dashboard takes: the explain form's token or claims, with room for URL encoding. */
export const MAX_FORM_BYTES = 96 * 1024;

/** A POSTed urlencoded form, read with a bound; anything else is refused before it is parsed. */
export async function readForm(c: Context<BrokerEnv>): Promise<URLSearchParams> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new BrokerError('invalid_request', 'the dashboard takes only its own forms (urlencoded)', {
      hint: 'use the form on the page',
    });
  }
  const text = await readRequestBody(
    c,
    MAX_FORM_BYTES,
    () =>
      new BrokerError('payload_too_large', `the form is larger than ${MAX_FORM_BYTES} bytes`, {
        hint: 'paste a shorter token or fewer claims',
      }),
  );
  return new URLSearchParams(text);
}

/** One field of the form, at most `maxLength` characters; undefined when absent or given more than once. */
export function formField(form: URLSearchParams, name: string, maxLength: number): string | undefined {
  const values = form.getAll(name);
  if (values.length !== 1) return undefined;
  const value = values[0] as string;
  if (value.length > maxLength) {
    throw new BrokerError('invalid_request', `the field "${name}" is longer than ${maxLength} characters`);
  }
  return value;
}
