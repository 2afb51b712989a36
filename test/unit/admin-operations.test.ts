/**
 * The admin operations table is enforced by AdminService itself: its methods are called directly here, with no
 * route and no HTTP, and refuse a caller whose role the table does not list (audited as over HTTP).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directAdminService } from '../helpers/admin-service.js';
import type { AdminIdentity } from '../../src/broker/admin/admin-credentials.js';
import { ADMIN_OPERATIONS, type AdminAction } from '../../src/broker/admin/admin-operations.js';
import type { AdminService, AdminCaller, AdminContext } from '../../src/broker/admin/admin-service.js';
import { BrokerError } from '../../src/broker/errors.js';
import type { Stores } from '../../src/broker/store/interfaces.js';
import type { SecretVault } from '../../src/broker/store/secret-vault.js';
import { ADMIN_ROLES } from '../../src/protocol/admin-api.js';

const identities: Record<(typeof ADMIN_ROLES)[number], AdminIdentity> = {
  owner: { tokenId: '0000000000000001', label: 'the owner', role: 'owner' },
  admin: { tokenId: '0000000000000002', label: 'an admin', role: 'admin' },
  auditor: { tokenId: '0000000000000003', label: 'an auditor', role: 'auditor' },
};

let stores: Stores;
let admin: AdminService;
let vault: SecretVault;
let calls = 0;

function contextOf(name: string): AdminContext {
  calls += 1;
  return { requestId: `${name}-${calls}`, sourceIp: '192.0.2.7' };
}

beforeEach(async () => {
  ({ admin, stores, vault } = directAdminService());
  await vault.put('prod/api/DB_PASSWORD', 'operations-test-value');
});

afterEach(async () => {
  await stores.close();
});

async function auditOf(requestId: string): Promise<Record<string, unknown>[]> {
  const entries = await stores.audit.query({ requestId }, 0, 10);
  return entries.map((entry) => JSON.parse(entry.record) as Record<string, unknown>);
}

async function refusal(call: Promise<unknown>): Promise<BrokerError> {
  const error: unknown = await call.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(BrokerError);
  return error as BrokerError;
}

/** One direct call of each operation; `input` counts the reads of its lazy input. */
function operations(
  caller: AdminCaller,
  context: AdminContext,
  input: () => void,
): Record<AdminAction, () => Promise<unknown>> {
  const read =
    <T>(value: T) =>
    () => {
      input();
      return value;
    };
  return {
    whoami: () => admin.whoami(caller, context),
    'secrets.list': () => admin.listSecrets(caller, read(''), context),
    'secrets.set': () =>
      admin.setSecret(caller, read({ name: 'prod/api/NEW', value: 'v', dryRun: false }), context),
    'secrets.update': () =>
      admin.updateSecret(
        caller,
        read({ name: 'prod/api/DB_PASSWORD', conditions: { owner: 'ops' } }),
        context,
      ),
    'secrets.versions': () => admin.secretVersions(caller, 'prod/api/DB_PASSWORD', context),
    'secrets.rollback': () =>
      admin.rollbackSecret(caller, read({ name: 'prod/api/DB_PASSWORD', to: 1 }), context),
    'secrets.delete': () => admin.deleteSecret(caller, 'prod/api/DB_PASSWORD', context),
    'audit.read': () => admin.queryAudit(caller, read({ filter: {}, after: 0, pageSize: 10 }), context),
    'audit.verify': () => admin.verifyAudit(caller, read([]), context),
    'policy.explain': () => admin.explain(caller, read({ claims: {} }), context),
    'tokens.create': () => admin.createToken(caller, read({ label: 'made', role: 'owner' }), context),
    'tokens.list': () => admin.listTokens(caller, context),
    'tokens.revoke': () => admin.revokeToken(caller, 'ffffffffffffffff', context),
    'keys.rotate': () => admin.beginRotation(caller, context),
  };
}

describe('the admin operations table', () => {
  it('lists the owner for everything, and never an auditor for an operation that changes something', () => {
    for (const [action, operation] of Object.entries(ADMIN_OPERATIONS)) {
      expect(operation.roles, action).toContain('owner');
      if (operation.mutates) expect(operation.roles, action).not.toContain('auditor');
    }
  });
});

describe('AdminService called directly, without a route', () => {
  it('refuses an auditor a mutating operation with 403, audits the refusal, and changes nothing', async () => {
    const context = contextOf('auditor-set');
    let reads = 0;
    const error = await refusal(
      admin.setSecret(
        identities.auditor,
        () => {
          reads += 1;
          return { name: 'prod/api/DB_PASSWORD', value: 'overwritten', dryRun: false };
        },
        context,
      ),
    );
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('role "auditor" may not secrets.set; allowed: owner, admin');
    expect(reads).toBe(0);
    expect(await auditOf(context.requestId)).toEqual([
      expect.objectContaining({
        kind: 'admin',
        action: 'secrets.set',
        outcome: 'denied',
        code: 'forbidden',
        admin_token_id: identities.auditor.tokenId,
        role: 'auditor',
        target: null,
      }),
    ]);
    expect(await vault.list('')).toMatchObject([{ name: 'prod/api/DB_PASSWORD', version: 1 }]);
  });

  for (const role of ADMIN_ROLES) {
    it(`gives ${role} exactly the operations the table lists for it, each refusal audited`, async () => {
      const outcomes: Partial<Record<AdminAction, string>> = {};
      for (const action of Object.keys(ADMIN_OPERATIONS) as AdminAction[]) {
        const context = contextOf(`${role}-${action}`);
        let reads = 0;
        const call = operations(identities[role], context, () => (reads += 1))[action];
        const answer: unknown = await call().then(
          () => 'allowed',
          (error: unknown) => (error instanceof BrokerError ? error.code : error),
        );
        const allowed = (ADMIN_OPERATIONS[action].roles as readonly string[]).includes(role);
        outcomes[action] = allowed ? 'ran' : String(answer);
        if (allowed) {
          expect(answer, action).not.toBe('forbidden');
          continue;
        }
        expect(answer, action).toBe('forbidden');
        expect(reads, action).toBe(0);
        expect(await auditOf(context.requestId), action).toMatchObject([
          { action, outcome: 'denied', code: 'forbidden', role },
        ]);
      }
      const refused = Object.entries(outcomes).filter(([, outcome]) => outcome === 'forbidden');
      expect(refused.map(([action]) => action)).toEqual(
        Object.entries(ADMIN_OPERATIONS)
          .filter(([, operation]) => !(operation.roles as readonly string[]).includes(role))
          .map(([action]) => action),
      );
    });
  }

  it('refuses a caller that did not authenticate with 401, audited under the operation', async () => {
    const context = contextOf('nobody');
    const error = await refusal(admin.deleteSecret(undefined, 'prod/api/DB_PASSWORD', context));
    expect(error.code).toBe('unauthorized');
    expect(await auditOf(context.requestId)).toMatchObject([
      { action: 'secrets.delete', outcome: 'denied', code: 'unauthorized', admin_token_id: null, role: null },
    ]);
    expect(await vault.list('')).toHaveLength(1);
  });

  it('runs an allowed operation and audits it', async () => {
    const context = contextOf('owner-set');
    const written = await admin.setSecret(
      identities.owner,
      { name: 'prod/api/NEW', value: 'new-value', dryRun: false },
      context,
    );
    expect(written).toMatchObject({ name: 'prod/api/NEW', version: 1, dry_run: false });
    expect(await auditOf(context.requestId)).toMatchObject([
      { action: 'secrets.set', outcome: 'allowed', target: 'prod/api/NEW', role: 'owner' },
    ]);
  });
});
