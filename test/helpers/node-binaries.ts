/**
 * The Node binaries the end-to-end tests run dist/ with: the one running vitest (Node 20 here) and Node 24, the
 * runtime GitHub gives `runs.using: node24` actions. test/global-setup.ts finds the Node 24 one once per run.
 */
import { describe, inject } from 'vitest';
import { NODE24_VARIABLE } from '../global-setup.js';

export interface NodeBinary {
  /** "node 20", "node 24": the name of the describe block its cases run in. */
  readonly name: string;
  readonly path: string;
}

/** Every Node to run dist/ with; throws, failing the test file, when no Node 24 binary could be found. */
export function nodeBinaries(): readonly NodeBinary[] {
  const running: NodeBinary = { name: `node ${process.versions.node.split('.')[0]}`, path: process.execPath };
  if (running.name === 'node 24') return [running];
  const node24 = inject('node24');
  if (node24 === undefined)
    throw new Error(
      `No Node 24 binary was provided: run the tests through vitest.config.ts, whose globalSetup finds one (or set ${NODE24_VARIABLE}=/path/to/node).`,
    );
  if ('problem' in node24) throw new Error(node24.problem);
  return [running, { name: 'node 24', path: node24.path }];
}

/** `describe(title, body)` once per Node binary, named "node 20: title", "node 24: title"; body gets its path. */
export function describeEachNode(title: string, body: (node: string) => void): void {
  for (const binary of nodeBinaries()) describe(`${binary.name}: ${title}`, () => body(binary.path));
}
