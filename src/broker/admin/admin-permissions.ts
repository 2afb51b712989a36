import type { AdminRole } from '../store/interfaces.js';

export const ADMIN_ROLES: readonly AdminRole[] = ['owner', 'admin', 'auditor'];

/**
 * Which roles may do what. `owner`: everything. `admin`: secrets, audit, explain; no token management, no key
 * rotation. `auditor`: names, audit, explain; never writes. Nothing returns a stored value, whatever the role.
 */
export const PERMISSIONS = {
  whoami: ['owner', 'admin', 'auditor'],
  'secrets.list': ['owner', 'admin', 'auditor'],
  'secrets.set': ['owner', 'admin'],
  'secrets.delete': ['owner', 'admin'],
  'audit.read': ['owner', 'admin', 'auditor'],
  'audit.verify': ['owner', 'admin', 'auditor'],
  'policy.explain': ['owner', 'admin', 'auditor'],
  'tokens.create': ['owner'],
  'tokens.list': ['owner'],
  'tokens.revoke': ['owner'],
  'keys.rotate': ['owner'],
} as const satisfies Readonly<Record<string, readonly AdminRole[]>>;

export type AdminAction = keyof typeof PERMISSIONS;

export function isAllowed(role: AdminRole, action: AdminAction): boolean {
  return (PERMISSIONS[action] as readonly AdminRole[]).includes(role);
}
