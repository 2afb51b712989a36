import { printableJson } from '../protocol/printable.js';

/** JSON for a terminal or a pipe: valid JSON that parses to the same value, nothing a terminal would act on. */
export function terminalJson(value: unknown, indent?: number): string {
  return printableJson(JSON.stringify(value, null, indent));
}
