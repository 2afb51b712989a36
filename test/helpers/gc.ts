/**
 * A full garbage collection on demand, inside a vitest worker that was not started with --expose-gc:
 * the V8 flag can be turned on at run time, and a fresh context then has `gc` as a global.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

export function collectGarbage(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}
