import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The broker's Prometheus metrics. Labels are fixed vocabularies: never a secret name, claim or value. */
export interface BrokerMetrics {
  readonly registry: Registry;
  readonly exchanges: Counter<'outcome' | 'code'>;
  readonly exchangeSeconds: Histogram<'outcome'>;
  readonly listRequests: Counter<'outcome' | 'code'>;
  /** POST /v1/outputs requests (puts of run outputs), by outcome and problem code. */
  readonly outputPuts: Counter<'outcome' | 'code'>;
  readonly issuerKeyRefreshFailures: Counter<'issuer'>;
  readonly auditFailures: Counter;
  readonly adminRequests: Counter<'action' | 'outcome'>;
  readonly adminAuthRefused: Counter;
  readonly policyRules: Gauge;
  readonly policyReloads: Counter<'result'>;
  readonly policyReloadOk: Gauge;
  /** Current secrets whose expiry falls within the next 7 days, counted when scraped. */
  readonly secretsExpiringSoon: Gauge;
  /** Sets how secretsExpiringSoon counts (an indexed range read of the store); until then it stays 0. */
  countSecretsExpiringSoonWith(count: () => Promise<number>): void;
}

/** How far ahead secretsExpiringSoon looks. */
export const EXPIRING_SOON_SECONDS = 7 * 86_400;

export function createMetrics(): BrokerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'secrets_broker_' });
  let countExpiring: (() => Promise<number>) | undefined;
  return {
    registry,
    exchanges: new Counter({
      name: 'secrets_broker_exchanges_total',
      help: 'Exchanges by outcome (allowed, denied, error) and problem code',
      labelNames: ['outcome', 'code'],
      registers: [registry],
    }),
    exchangeSeconds: new Histogram({
      name: 'secrets_broker_exchange_duration_seconds',
      help: 'Time to answer an exchange, by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    listRequests: new Counter({
      name: 'secrets_broker_list_requests_total',
      help: 'POST /v1/list requests by outcome (allowed, denied, error) and problem code',
      labelNames: ['outcome', 'code'],
      registers: [registry],
    }),
    outputPuts: new Counter({
      name: 'secrets_broker_output_puts_total',
      help: 'POST /v1/outputs requests (puts of run outputs) by outcome (allowed, denied, error) and problem code',
      labelNames: ['outcome', 'code'],
      registers: [registry],
    }),
    issuerKeyRefreshFailures: new Counter({
      name: 'secrets_broker_issuer_key_refresh_failures_total',
      help: "Failed fetches of an issuer's discovery document or JWKS, by issuer URL from the policy",
      labelNames: ['issuer'],
      registers: [registry],
    }),
    auditFailures: new Counter({
      name: 'secrets_broker_audit_write_failures_total',
      help: 'Audit records that could not be written (the exchange released nothing)',
      registers: [registry],
    }),
    adminRequests: new Counter({
      name: 'secrets_broker_admin_requests_total',
      help: 'Admin API calls by action and outcome',
      labelNames: ['action', 'outcome'],
      registers: [registry],
    }),
    adminAuthRefused: new Counter({
      name: 'secrets_broker_admin_auth_refused_total',
      help: 'Admin API calls refused (429) because their address failed authentication too often; audited in aggregate',
      registers: [registry],
    }),
    policyRules: new Gauge({
      name: 'secrets_broker_policy_rules',
      help: 'Rules in the policy being served',
      registers: [registry],
    }),
    policyReloads: new Counter({
      name: 'secrets_broker_policy_reloads_total',
      help: 'Policy reloads by result (applied, refused)',
      labelNames: ['result'],
      registers: [registry],
    }),
    policyReloadOk: new Gauge({
      name: 'secrets_broker_policy_last_reload_ok',
      help: '1 when the last reload was applied (or none was tried), 0 when it was refused and an older policy serves',
      registers: [registry],
    }),
    secretsExpiringSoon: new Gauge({
      name: 'secrets_broker_secrets_expiring_soon',
      help: 'Stored secrets whose expiry (secret set/update --expires) is within the next 7 days',
      registers: [registry],
      async collect() {
        if (countExpiring === undefined) return;
        try {
          this.set(await countExpiring());
        } catch {
          // The last count stays; a store that cannot be read shows in readiness, not here.
        }
      },
    }),
    countSecretsExpiringSoonWith: (count) => {
      countExpiring = count;
    },
  };
}
