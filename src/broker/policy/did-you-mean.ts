/** Longer words are not compared: a typo of a name is short, and the comparison costs their product. */
const MAX_COMPARED_LENGTH = 100;

/**
 * Edits (insert, delete, substitute, swap two neighbours) between two words: the optimal string alignment
 * distance. Swapped letters ("reopsitory") are one typo, not two.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const columns = b.length + 1;
  const distance: number[] = Array.from({ length: rows * columns }, (_, index) =>
    index < columns ? index : index % columns === 0 ? index / columns : 0,
  );
  const at = (row: number, column: number): number => distance[row * columns + column] as number;
  for (let row = 1; row < rows; row += 1) {
    for (let column = 1; column < columns; column += 1) {
      const cost = a[row - 1] === b[column - 1] ? 0 : 1;
      let best = Math.min(at(row - 1, column) + 1, at(row, column - 1) + 1, at(row - 1, column - 1) + cost);
      if (row > 1 && column > 1 && a[row - 1] === b[column - 2] && a[row - 2] === b[column - 1])
        best = Math.min(best, at(row - 2, column - 2) + 1);
      distance[row * columns + column] = best;
    }
  }
  return at(rows - 1, columns - 1);
}

/** How many typos a word of this length may carry and still be recognised. */
function allowedEdits(word: string): number {
  if (word.length <= 4) return 1;
  if (word.length <= 9) return 2;
  return 3;
}

/**
 * The known word closest to `word` when it is close enough to be a typo of it (case differences count as
 * nothing first), or undefined. Ties go to the word listed first.
 */
export function closestWord(word: string, known: Iterable<string>): string | undefined {
  // One or two characters are too short to tell a typo from a different word ("2" is not a typo of "1").
  if (word.length > MAX_COMPARED_LENGTH) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    if (candidate === word || candidate.length > MAX_COMPARED_LENGTH) continue;
    if (candidate.toLowerCase() === word.toLowerCase()) return candidate;
    if (word.length < 3) continue;
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= allowedEdits(word) ? best : undefined;
}

/** ` did you mean "x"?` for a message, or the empty string when nothing known is close. */
export function didYouMean(word: string, known: Iterable<string>): string {
  const closest = closestWord(word, known);
  return closest === undefined ? '' : ` did you mean "${closest}"?`;
}
