import type { AdminIdentity } from '../admin/admin-credentials.js';
import type { AdminContext } from '../admin/admin-service.js';
import { BrokerError } from '../errors.js';
import type { DashboardDependencies } from './dependencies.js';

export type SessionAction = 'ui.sign-in' | 'ui.sign-out' | 'ui.session-ended';

/**
 * Writes an admin record for a dashboard sign-in (allowed or refused), sign-out or a session ended because its token
 * no longer authenticates, as the admin operations write theirs. A sign-in that cannot be audited is refused.
 */
export async function auditSession(
  deps: Pick<DashboardDependencies, 'audit' | 'metrics' | 'logger'>,
  context: AdminContext,
  action: SessionAction,
  identity: AdminIdentity | undefined,
  denial?: { readonly code: string; readonly reason: string },
): Promise<void> {
  const outcome = denial === undefined ? 'allowed' : 'denied';
  deps.metrics.adminRequests.inc({ action, outcome });
  try {
    await deps.audit.append({
      kind: 'admin',
      time: new Date().toISOString(),
      request_id: context.requestId,
      source_ip: context.sourceIp,
      outcome,
      code: denial?.code ?? null,
      admin_token_id: identity?.tokenId ?? null,
      admin_label: identity?.label ?? null,
      role: identity?.role ?? null,
      action,
      target: null,
      detail: denial === undefined ? null : { reason: denial.reason },
    });
  } catch (error) {
    deps.metrics.auditFailures.inc();
    deps.logger.error(
      { request_id: context.requestId, error: (error as Error).message },
      'dashboard session audit record could not be written',
    );
    throw new BrokerError(
      'unavailable',
      'the audit record could not be written, so the request was refused',
      {
        hint: 'an operator must check the audit storage; try again later',
      },
    );
  }
}
