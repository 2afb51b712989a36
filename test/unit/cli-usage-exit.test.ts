/** Every secrets-broker command used wrongly exits 2 with commander's one-line reason; help and --version exit 0. */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('secrets-broker usage errors', () => {
  it.each([
    [['frob'], "unknown command 'frob'"],
    [['policy', 'check'], "missing required argument 'file'"],
    [['policy', 'lint', 'x.yaml', '--bogus'], "unknown option '--bogus'"],
    [['serve', '--bogus'], "unknown option '--bogus'"],
    [['policy', 'explain'], "missing required argument 'file'"],
  ])('%j exits 2: %s', async (args, reason) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(reason);
    expect(result.stdout).toBe('');
  });

  it.each([[['--help']], [['--version']], [['policy', '--help']]])('%j exits 0', async (args) => {
    expect((await runCli(args)).code).toBe(0);
  });
});
