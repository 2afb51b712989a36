/**
 * Finds a Node 24 binary once per test run, so that the end-to-end tests can run dist/ under the Node running
 * vitest and under Node 24, the runtime GitHub gives `runs.using: node24` actions (test/helpers/node-binaries.ts).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { printable } from '../src/protocol/printable.js';
import { REPO_ROOT } from './helpers/child-process.js';

/** Names the path of a Node 24 binary to use instead of the one fetched from the npm registry. */
export const NODE24_VARIABLE = 'SECRETS_ACTION_NODE24';
/** The npm registry's package of Node binaries for this machine: `package/bin/node` in its tarball. */
const NODE24_PACKAGE = `node-${process.platform}-${process.arch}@24`;
const CACHE = join(REPO_ROOT, 'node_modules/.cache/node-24');
const CACHED_BINARY = join(CACHE, 'node');

const execFileAsync = promisify(execFile);

/** What the tests get: the binary's path, or why there is none (each e2e file then fails with it). */
export type Node24 = { readonly path: string } | { readonly problem: string };

declare module 'vitest' {
  export interface ProvidedContext {
    node24: Node24;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('node24', await findNode24());
}

/** The Node 24 binary: the one running, the one named by SECRETS_ACTION_NODE24, the cached one, or a fetched one. */
export async function findNode24(): Promise<Node24> {
  if (process.versions.node.startsWith('24.')) return { path: process.execPath };
  const given = process.env[NODE24_VARIABLE];
  if (given !== undefined && given !== '') {
    const version = await versionOf(given);
    const shown = printable(given);
    return version.startsWith('v24.')
      ? { path: given }
      : {
          problem: `${NODE24_VARIABLE}=${shown} is not a Node 24 binary (\`${shown} --version\` gave ${printable(JSON.stringify(version))}): point it at a Node 24 \`node\`, or unset it to let the tests fetch one with npm.`,
        };
  }
  if ((await versionOf(CACHED_BINARY)).startsWith('v24.')) return { path: CACHED_BINARY };
  try {
    await download();
    return { path: CACHED_BINARY };
  } catch (error) {
    return {
      problem: `The end-to-end tests run dist/ under Node 24 too, and no Node 24 binary could be fetched (\`npm pack ${NODE24_PACKAGE}\`: ${reason(error)}). Let npm reach its registry once (the binary is kept in ${CACHED_BINARY}), or set ${NODE24_VARIABLE}=/path/to/node to a Node 24 binary you have.`,
    };
  }
}

/** `path --version`, or what went wrong running it. */
async function versionOf(path: string): Promise<string> {
  try {
    return (await execFileAsync(path, ['--version'], { timeout: 30_000 })).stdout.trim();
  } catch (error) {
    return `an error: ${reason(error)}`;
  }
}

/** Fetches the package into a directory of its own under the cache, then renames its binary into place. */
async function download(): Promise<void> {
  console.error(
    `Fetching Node 24 for the end-to-end tests: npm pack ${NODE24_PACKAGE} (once; kept in ${CACHE})`,
  );
  await mkdir(CACHE, { recursive: true });
  // Beside the cached binary, so the rename stays on one file system; concurrent runs each use their own.
  const work = await mkdtemp(join(CACHE, 'download-'));
  try {
    await execFileAsync('npm', ['pack', NODE24_PACKAGE, '--loglevel=error'], { cwd: work, timeout: 300_000 });
    const tarballs = (await readdir(work)).filter((name) => name.endsWith('.tgz'));
    if (tarballs.length !== 1) throw new Error(`expected one tarball, found ${JSON.stringify(tarballs)}`);
    await execFileAsync('tar', ['-xzf', tarballs[0] as string, 'package/bin/node'], { cwd: work });
    const binary = join(work, 'package/bin/node');
    const version = await versionOf(binary);
    if (!version.startsWith('v24.')) throw new Error(`its package/bin/node --version gave ${version}`);
    await rename(binary, CACHED_BINARY);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The error's first line and the first telling line the command printed, with control characters escaped. */
function reason(error: unknown): string {
  if (!(error instanceof Error)) return printable(String(error));
  const stderr = (error as { stderr?: unknown }).stderr;
  // npm prints "npm error code ECONNREFUSED", "npm error syscall connect", ..., then what happened.
  const detail = (typeof stderr === 'string' ? stderr.split('\n') : [])
    .map((line) => line.replace(/^npm error /, '').trim())
    .find((line) => line !== '' && !/^(code|syscall|errno) /.test(line));
  const first = error.message.split('\n')[0] as string;
  return printable(detail === undefined ? first : `${first}: ${detail}`);
}
