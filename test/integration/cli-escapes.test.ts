/**
 * Defect 5 of issue 11: text an attacker controls (claims of a token that did not verify, a secret name, a token
 * label, a server's message) reaches the terminal of whoever runs `secrets-broker`. Every human-readable output
 * must show it escaped and on the line it belongs to; JSON output must stay JSON without raw C1 or bidi
 * characters. Every output of every run in this file is scanned for raw control characters.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/broker/audit/audit-log.js';
import type { AuditRecord } from '../../src/broker/audit/audit-records.js';
import { hasUnprintable, printable } from '../../src/protocol/printable.js';
import { githubClaims, tokenFromForeignKey } from '../helpers/oidc-issuer.js';
import { adminEnvironment, runCli, type CliRun } from '../helpers/cli.js';
import { BrokerHarness, TEST_AUDIENCE } from '../helpers/broker-harness.js';

/** A newline and a whole fake table row, a line erase, an OSC 8 hyperlink, a bidi override, C1 (NEL, CSI), DEL, a zero-width space. */
const FAKE_ROW = '9999  2030-01-01T00:00:00.000Z  exchange  allowed  -  acme/api  prod/api/DB_PASSWORD@v1';
const HOSTILE = `acme/api\n${FAKE_ROW}\x1b[2K\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07\u202egnp.exe\u0085\u009b31m\x7f\u200b`;
/** A token label holds at most 100 characters. */
const HOSTILE_LABEL = `ci\n9999  owner  deploy\x1b]0;owned\x07\u202etxt.exe\u009b2J`;
/** What HOSTILE looks like escaped, up to the fake row. */
const ESCAPED_START = `acme/api\\n${FAKE_ROW}\\x1b[2K\\x1b]8;;https://evil.example/\\x07click`;

let harness: BrokerHarness;

beforeAll(async () => {
  harness = await BrokerHarness.start();
});

afterAll(async () => {
  await harness?.close();
});

const runs: CliRun[] = [];

async function cli(args: string[], environment: Record<string, string> = {}): Promise<CliRun> {
  const run = await runCli(args, { environment: { ...adminEnvironment(harness), ...environment } });
  runs.push(run);
  return run;
}

/** No line of any output holds a character a terminal would act on (newlines only end lines). */
afterEach(() => {
  for (const run of runs.splice(0)) {
    for (const [stream, text] of [
      ['stdout', run.stdout],
      ['stderr', run.stderr],
    ] as const) {
      for (const line of text.split('\n'))
        expect(hasUnprintable(line), `${run.args.join(' ')}: ${stream} line ${JSON.stringify(line)}`).toBe(
          false,
        );
    }
  }
});

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

/** Every --json line parses, and gives back exactly what was stored. */
function jsonLines(text: string): Record<string, unknown>[] {
  return lines(text).map((line) => JSON.parse(line) as Record<string, unknown>);
}

function auditLog(): AuditLog {
  return harness.broker.auditLog;
}

const ADMIN_BASE = {
  kind: 'admin',
  request_id: 'req-escapes',
  source_ip: '127.0.0.1',
  outcome: 'denied',
  code: 'not_found',
  admin_token_id: 'environment',
  role: 'owner',
  detail: null,
} as const;

describe('secrets-broker audit shows hostile claims escaped and marked', () => {
  it('a token with a bad signature and a hostile repository claim prints as one escaped, unverified row', async () => {
    const forged = await tokenFromForeignKey(
      githubClaims(harness.github.url, TEST_AUDIENCE, { repository: HOSTILE, actor: HOSTILE }),
    );
    const refused = await harness.exchange(forged, ['prod/api/DB_PASSWORD']);
    expect(refused.status).toBe(401);
    const requestId = refused.json.request_id as string;

    const table = await cli(['audit', '--request-id', requestId]);
    expect(table.code).toBe(0);
    const rows = lines(table.stdout);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toContain(`(unverified) ${ESCAPED_START}`);
    expect(rows[1]).toContain('\\u202egnp.exe\\x85\\x9b31m\\x7f\\u200b');

    const json = await cli(['audit', '--request-id', requestId, '--json']);
    const [record] = jsonLines(json.stdout);
    // The broker keeps what an unverified token claimed apart from the identity fields (what --repository
    // filters on), and stores it already escaped.
    expect(record).toMatchObject({ token_verified: false, repository: null, actor: null });
    const claimed = record!.claimed as Record<string, string>;
    expect(claimed.repository).toBe(printable(HOSTILE));
    expect(claimed.actor).toBe(printable(HOSTILE));
    expect(hasUnprintable(claimed.repository as string)).toBe(false);
    const stored = (await harness.broker.stores.audit.query({ requestId }, 0, 10)).map(
      (entry) => entry.record,
    );
    expect(stored).toHaveLength(1);
    expect(hasUnprintable(JSON.parse(stored[0] as string).claimed.repository)).toBe(false);
    // Forged claims do not make the record show up as that repository's.
    const byRepository = await cli(['audit', '--repository', 'acme/api', '--json']);
    expect(jsonLines(byRepository.stdout).some((entry) => entry.request_id === requestId)).toBe(false);
  });

  it('records written through the audit log with raw hostile fields print escaped, one row each', async () => {
    const time = new Date().toISOString();
    const identity = {
      sub: null,
      repository: null,
      ref: null,
      environment: null,
      workflow: null,
      run_id: null,
      actor: null,
    };
    const exchangeBase = {
      kind: 'exchange',
      time,
      source_ip: '127.0.0.1',
      outcome: 'denied',
      code: 'invalid_token',
      token_verified: false,
      issuer: null,
      issuer_url: HOSTILE,
      jti_sha256: null,
      recipient_sha256: null,
      requested: [HOSTILE],
      released: [],
      rules: [],
      latency_ms: 1,
    } as const;
    const written = [
      // The broker's form for a token that did not verify: identity empty, what it claimed under `claimed`.
      {
        ...exchangeBase,
        ...identity,
        request_id: 'req-claimed',
        claimed: { ...identity, repository: HOSTILE, sub: HOSTILE },
      },
      // An older record: the claims of an unverified token in the identity fields themselves.
      { ...exchangeBase, ...identity, request_id: 'req-legacy', repository: HOSTILE, sub: HOSTILE },
      // A verified exchange whose released name is hostile.
      {
        ...exchangeBase,
        ...identity,
        request_id: 'req-verified',
        outcome: 'allowed',
        code: null,
        token_verified: true,
        repository: 'acme/api',
        released: [{ name: HOSTILE, version: 1 }],
      },
      { ...ADMIN_BASE, time, action: 'secrets.set', target: HOSTILE, admin_label: HOSTILE },
    ] as unknown as AuditRecord[];
    const first = (await auditLog().append(written[0]!)).seq;
    for (const record of written.slice(1)) await auditLog().append(record);

    const table = await cli(['audit', '--after', String(first - 1), '--limit', '4']);
    expect(table.code).toBe(0);
    const rows = lines(table.stdout);
    expect(rows).toHaveLength(1 + written.length);
    expect(rows[1]).toContain(`(unverified) ${ESCAPED_START}`);
    expect(rows[2]).toContain(`(unverified) ${ESCAPED_START}`);
    expect(rows[3]).toMatch(/ acme\/api {2}/);
    expect(rows[3]).not.toContain('(unverified)');
    expect(rows[3]).toContain(ESCAPED_START);
    expect(rows[4]).toContain(`secrets.set ${ESCAPED_START}`);

    const json = await cli(['audit', '--after', String(first - 1), '--limit', '4', '--json']);
    const records = jsonLines(json.stdout);
    expect(records).toHaveLength(written.length);
    expect((records[0]!.claimed as Record<string, unknown>).repository).toBe(HOSTILE);
    expect(records[1]!.repository).toBe(HOSTILE);
    expect(records[3]!.target).toBe(HOSTILE);
  });
});

describe('every other output escapes what it did not write itself', () => {
  it('token create and token list show a hostile label escaped; --json stays JSON', async () => {
    const created = await cli(['token', 'create', HOSTILE_LABEL, '--role', 'auditor']);
    expect(created.code, created.stderr).toBe(0);
    expect(lines(created.stderr)).toHaveLength(1);
    const escapedLabel = 'ci\\n9999  owner  deploy\\x1b]0;owned\\x07\\u202etxt.exe\\x9b2J';
    expect(created.stderr).toContain(escapedLabel);
    const list = await cli(['token', 'list']);
    const rows = lines(list.stdout);
    // Every row starts with a token id (or the header): none was started by a label.
    for (const row of rows.slice(1)) expect(row).toMatch(/^[0-9a-f]{16} {2}/);
    expect(rows.find((row) => row.includes('deploy'))).toContain(escapedLabel);
    const json = await cli(['token', 'list', '--json']);
    expect(json.stdout).toContain('\\u202e');
    const tokens = JSON.parse(json.stdout) as { label: string }[];
    expect(tokens.map((token) => token.label)).toContain(HOSTILE_LABEL);
  });

  it('the error message about a hostile name, and a hostile option, are escaped', async () => {
    // Refused by the CLI before anything is sent: one escaped error line and its hint.
    const deleted = await cli(['secret', 'delete', `prod/x${HOSTILE}`]);
    expect(deleted.code).toBe(2);
    expect(lines(deleted.stderr)).toHaveLength(2);
    expect(deleted.stderr).toContain(`error: "prod/x${ESCAPED_START}`);
    const unknown = await cli(['audit', `--\x1b]0;owned\x07`]);
    expect(unknown.code).not.toBe(0);
    const badTime = await cli(['audit', '--since', HOSTILE]);
    expect(badTime.code).toBe(2);
    expect(lines(badTime.stderr)).toHaveLength(1);
    expect(badTime.stderr).toContain(ESCAPED_START);
  });

  it('policy explain shows hostile claims escaped, as text and as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'escapes-'));
    const claims = join(dir, 'claims.json');
    await writeFile(
      claims,
      JSON.stringify(githubClaims(harness.github.url, TEST_AUDIENCE, { repository: HOSTILE, ref: HOSTILE })),
    );
    const text = await cli([
      'policy',
      'explain',
      harness.policyFile,
      '--claims',
      claims,
      '--secret',
      'prod/api/X',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('acme/api\\n9999');
    const json = await cli(['policy', 'explain', harness.policyFile, '--claims', claims, '--json']);
    expect(JSON.stringify(JSON.parse(json.stdout))).toContain('acme/api\\n9999');
    const lint = await cli(['policy', 'lint', harness.policyFile, '--format', 'json']);
    expect(() => JSON.parse(lint.stdout) as unknown).not.toThrow();
  });
});
