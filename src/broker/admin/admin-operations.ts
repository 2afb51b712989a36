import { ADMIN_ROLES } from '../../protocol/admin-api.js';
import type { AdminRole } from '../store/interfaces.js';

const ALL_ROLES = ADMIN_ROLES satisfies readonly AdminRole[];

interface AdminOperation {
  /** The roles that may do it; any other is refused (403) and the refusal audited. */
  readonly roles: readonly AdminRole[];
  /** Whether it changes stored state: if its audit record then fails, the caller is told the change was made. */
  readonly mutates: boolean;
}

/**
 * Every admin operation, the roles that may do it and whether it changes anything: the one place this is said.
 * `owner`: everything. `admin`: secrets, audit, explain; no token management, no key rotation. `auditor`: names
 * and versions, audit, explain; never writes. Nothing returns a stored value, whatever the role. AdminService
 * enforces this table in each operation, however it is called.
 */
export const ADMIN_OPERATIONS = {
  whoami: { roles: ALL_ROLES, mutates: false },
  'secrets.list': { roles: ALL_ROLES, mutates: false },
  'secrets.set': { roles: ['owner', 'admin'], mutates: true },
  'secrets.update': { roles: ['owner', 'admin'], mutates: true },
  'secrets.versions': { roles: ALL_ROLES, mutates: false },
  'secrets.rollback': { roles: ['owner', 'admin'], mutates: true },
  'secrets.delete': { roles: ['owner', 'admin'], mutates: true },
  'audit.read': { roles: ALL_ROLES, mutates: false },
  'audit.verify': { roles: ALL_ROLES, mutates: false },
  'policy.explain': { roles: ALL_ROLES, mutates: false },
  'tokens.create': { roles: ['owner'], mutates: true },
  'tokens.list': { roles: ['owner'], mutates: false },
  'tokens.revoke': { roles: ['owner'], mutates: true },
  'keys.rotate': { roles: ['owner'], mutates: true },
} as const satisfies Readonly<Record<string, AdminOperation>>;

export type AdminAction = keyof typeof ADMIN_OPERATIONS;

export function isAllowed(role: AdminRole, action: AdminAction): boolean {
  return (ADMIN_OPERATIONS[action].roles as readonly AdminRole[]).includes(role);
}
