import type { AuditRecord } from '../audit/audit-records.js';

/** The values of the audit query's enumerated filters: the CLI offers exactly these, the API refuses others. */
export const AUDIT_KINDS = ['exchange', 'admin'] as const satisfies readonly AuditRecord['kind'][];
export const AUDIT_OUTCOMES = [
  'allowed',
  'denied',
  'error',
] as const satisfies readonly AuditRecord['outcome'][];

/** Records in one audit page: `limit` is 1 to this, 100 when not given. A full page comes with a cursor. */
export const MAX_AUDIT_PAGE = 1000;
export const DEFAULT_AUDIT_PAGE = 100;
