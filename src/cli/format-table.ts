import { printable } from '../protocol/printable.js';

/**
 * Left-aligned columns separated by two spaces, as `secret list` and other listings print them. Every cell is
 * escaped (newlines included), so a cell cannot start a row of its own or move the cursor.
 */
export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const escaped = rows.map((row) => row.map((cell) => printable(cell)));
  const widths: number[] = [];
  for (const row of escaped)
    row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return escaped.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}
