/**
 * The dependency rule of src/ (.dependency-cruiser.mjs, run by `npm run lint`) holds today, and it catches what it
 * is for: a loop planted between two folders, a broker import planted in the client, one planted in protocol/.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, run } from '../helpers/child-process.js';

const CRUISER = join(REPO_ROOT, 'node_modules/.bin/depcruise');
const CONFIG = join(REPO_ROOT, '.dependency-cruiser.mjs');
let copy: string;

async function cruise(root: string) {
  return run(CRUISER, ['src', '--config', CONFIG], { cwd: root });
}

beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), 'dependency-rule-'));
  await cp(join(REPO_ROOT, 'src'), join(copy, 'src'), { recursive: true });
  await cp(join(REPO_ROOT, 'tsconfig.json'), join(copy, 'tsconfig.json'));
});
afterAll(async () => {
  await rm(copy, { recursive: true, force: true });
});

describe('the dependency rule', () => {
  it('holds for src/ as it is', async () => {
    const result = await cruise(REPO_ROOT);
    expect(result.stdout + result.stderr).toContain('no dependency violations found');
    expect(result.code).toBe(0);
  });

  it.each([
    [
      'a loop between two folders',
      'src/broker/policy/planted.ts',
      "import type { AdminService } from '../admin/admin-service.js';\nexport type Planted = AdminService;\n",
      'no-folder-cycles',
    ],
    [
      'the client importing the broker',
      'src/client/planted.ts',
      "import { BrokerError } from '../broker/errors.js';\nexport const planted = BrokerError;\n",
      'clients-never-import-the-broker',
    ],
    [
      'protocol/ importing anything of ours',
      'src/protocol/planted.ts',
      "import { REDACTED } from '../client/redactor.js';\nexport const planted = REDACTED;\n",
      'protocol-is-the-base',
    ],
  ])('fails on %s', async (_what, file, source, rule) => {
    await writeFile(join(copy, file), source);
    try {
      const result = await cruise(copy);
      expect(result.code).not.toBe(0);
      expect(result.stdout).toContain(`error ${rule}:`);
    } finally {
      await rm(join(copy, file));
    }
  });
});
