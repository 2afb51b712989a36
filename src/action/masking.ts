import { derivedForms, logLines } from '../client/derived-forms.js';

/**
 * Every string the runner must mask for one secret value: the value, each line of a multi-line value (logs are
 * matched line by line), each string or number leaf of a JSON value, and with `derived` the encodings of each of
 * these that tools print (`derivedForms`: hex, base64, base64url and URL-encoding).
 */
export function maskForms(value: string, derived: boolean): string[] {
  const forms = new Set<string>();
  const add = (form: string): void => {
    if (form.trim() !== '') forms.add(form);
  };
  add(value);
  for (const line of logLines(value)) add(line);
  for (const leaf of jsonLeaves(value)) add(leaf);
  if (derived) {
    for (const base of [...forms]) for (const form of derivedForms(base)) add(form);
  }
  return [...forms];
}

function jsonLeaves(value: string): string[] {
  const trimmed = value.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return [];
  }
  const leaves: string[] = [];
  const walk = (node: unknown): void => {
    if (typeof node === 'string') leaves.push(node);
    else if (typeof node === 'number') leaves.push(String(node));
    else if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') Object.values(node).forEach(walk);
  };
  walk(parsed);
  return leaves;
}

/**
 * What to mask for a file joined from several values, besides each value's own forms: the forms of the whole
 * content (its lines include those where two values meet), but not the forms of a line of the divider alone,
 * which is text of the workflow (such as "---"), not of a secret.
 */
export function joinedMaskForms(content: string, divider: string, derived: boolean): string[] {
  const dividerOnly = new Set(logLines(divider).flatMap((line) => maskForms(line, derived)));
  return maskForms(content, derived).filter((form) => !dividerOnly.has(form));
}
