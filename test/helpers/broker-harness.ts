/** Starts the real broker in-process on 127.0.0.1 with real OIDC issuers, a temp data dir and captured logs. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sodium from 'sodium-native';
import { startBroker, type RunningBroker } from '../../src/broker/broker.js';
import { resolveBrokerConfig } from '../../src/broker/config.js';
import type { Clock } from '../../src/broker/exchange/clock.js';
import { createLogger } from '../../src/broker/logger.js';
import { DEFAULT_ISSUER_KEYS_OPTIONS, type IssuerKeysOptions } from '../../src/broker/oidc/issuer-keys.js';
import { TestIssuer } from './oidc-issuer.js';

export const TEST_AUDIENCE = 'https://secrets.test.example';

/** A test policy with the harness's audience and issuers, and `rules` (the YAML list under "rules:"). */
export function policyWithRules(rules: string): (githubUrl: string, gitlabUrl: string) => string {
  return (githubUrl, gitlabUrl) => `version: 1
audience: ${TEST_AUDIENCE}
issuers:
  github:
    url: ${githubUrl}
  gitlab:
    url: ${gitlabUrl}
rules:
${rules}`;
}

export function testPolicy(githubUrl: string, gitlabUrl: string): string {
  return policyWithRules(`  - name: api-deploy-prod
    issuer: github
    claims:
      repository_owner_id: "1234"
      repository_id: "98765"
      ref: refs/heads/main
      environment: production
      event_name: [push, workflow_dispatch]
      workflow_ref: { regex: '^acme/api/\\.github/workflows/deploy\\.yml@refs/heads/main$' }
      actor: { not: "dependabot[bot]" }
    secrets:
      - prod/api/*
      - shared/SLACK_WEBHOOK
  - name: api-ci-any-branch
    issuer: github
    claims:
      repository_id: "98765"
      ref: refs/heads/*
    secrets:
      - staging/api/DB_PASSWORD
  - name: platform-group
    issuer: github
    claims:
      groups: platform
    secrets:
      - shared/PLATFORM_TOKEN
  - name: web-deploy-gitlab
    issuer: gitlab
    claims:
      project_id: "4242"
      namespace_id: "77"
      ref_protected: "true"
      environment: production
      environment_protected: "true"
    secrets:
      - prod/web/**
`)(githubUrl, gitlabUrl);
}

export interface KeyPair {
  readonly publicKey: Buffer;
  readonly secretKey: Buffer;
}

export function newRecipient(): KeyPair {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

export function openSealed(sealed: string, recipient: KeyPair): unknown {
  const box = Buffer.from(sealed, 'base64');
  const message = Buffer.alloc(box.length - sodium.crypto_box_SEALBYTES);
  if (!sodium.crypto_box_seal_open(message, box, recipient.publicKey, recipient.secretKey))
    throw new Error('box does not open');
  return JSON.parse(message.toString('utf8'));
}

/** A clock a test sets and moves: the broker decides rule time windows, expiry and read budgets by it. */
export class ManualClock implements Clock {
  private current: number;

  constructor(start: Date | string) {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  set(time: Date | string): void {
    this.current = new Date(time).getTime();
  }

  advance(seconds: number): void {
    this.current += seconds * 1000;
  }
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

export interface HarnessOptions {
  readonly policy?: (githubUrl: string, gitlabUrl: string) => string;
  readonly issuerKeys?: Partial<IssuerKeysOptions>;
  readonly dataDir?: string;
  readonly masterKeyHex?: string;
  /** A postgres:// URL: the broker (and any replica) uses PostgreSQL instead of the embedded store. */
  readonly databaseUrl?: string;
  /** More SECRETS_BROKER_* variables for the first start. */
  readonly environment?: Record<string, string>;
  /** The clock the broker and its replicas decide conditions by (given in process, as code can only). */
  readonly clock?: Clock;
  /** Serve the dashboard under /ui (as SECRETS_BROKER_UI=true does). */
  readonly ui?: boolean;
}

export class BrokerHarness {
  readonly logs: string[] = [];
  /** Every response body the tests received, for canary scans. */
  readonly responses: string[] = [];
  readonly adminToken = `test-owner-${randomBytes(24).toString('hex')}`;
  broker!: RunningBroker;
  github!: TestIssuer;
  gitlab!: TestIssuer;
  dataDir!: string;
  policyFile!: string;
  masterKeyHex!: string;
  databaseUrl: string | undefined;
  clock: Clock | undefined;
  /** Whether the broker and its replicas serve the dashboard. */
  ui = false;
  readonly replicas: RunningBroker[] = [];
  private ownsDataDir = false;

  static async start(options: HarnessOptions = {}): Promise<BrokerHarness> {
    const harness = new BrokerHarness();
    await harness.init(options);
    return harness;
  }

  private async init(options: HarnessOptions): Promise<void> {
    this.github = await new TestIssuer().start();
    this.gitlab = await new TestIssuer().start();
    this.ownsDataDir = options.dataDir === undefined;
    this.dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'broker-test-')));
    this.policyFile = join(this.dataDir, 'policy.yaml');
    await writeFile(this.policyFile, (options.policy ?? testPolicy)(this.github.url, this.gitlab.url));
    this.masterKeyHex = options.masterKeyHex ?? randomBytes(32).toString('hex');
    this.databaseUrl = options.databaseUrl;
    this.clock = options.clock;
    this.ui = options.ui === true;
    try {
      await this.startBroker(options, options.environment ?? {});
    } catch (error) {
      await this.github.stop();
      await this.gitlab.stop();
      throw error;
    }
  }

  async startBroker(
    options: HarnessOptions = {},
    extraEnvironment: Record<string, string> = {},
  ): Promise<void> {
    this.broker = await this.launch(options, extraEnvironment);
  }

  /** Another broker on its own port sharing this one's policy, keys, issuers and (PostgreSQL) database. */
  async startReplica(): Promise<RunningBroker> {
    const replica = await this.launch({}, {});
    this.replicas.push(replica);
    return replica;
  }

  private launch(options: HarnessOptions, extraEnvironment: Record<string, string>): Promise<RunningBroker> {
    const environment = {
      SECRETS_BROKER_MASTER_KEY: this.masterKeyHex,
      SECRETS_BROKER_BOOTSTRAP_TOKEN: this.adminToken,
      ...(this.ui ? { SECRETS_BROKER_UI: 'true' } : {}),
      ...extraEnvironment,
    };
    const database = this.databaseUrl === undefined ? {} : { databaseUrl: this.databaseUrl };
    const config = resolveBrokerConfig(
      { policy: this.policyFile, dataDir: this.dataDir, port: '0', ...database },
      environment,
    );
    const logger = createLogger('debug', { write: (line: string) => void this.logs.push(line) });
    return startBroker(config, {
      logger,
      environment,
      issuerKeys: { ...DEFAULT_ISSUER_KEYS_OPTIONS, ...options.issuerKeys },
      ...(this.clock === undefined ? {} : { clock: this.clock }),
    });
  }

  get url(): string {
    return this.broker.url;
  }

  async request(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string; baseUrl?: string } = {},
  ): Promise<HttpResult> {
    const response = await fetch(`${init.baseUrl ?? this.url}${path}`, {
      method,
      headers: init.headers,
      body: init.body,
    });
    const text = await response.text();
    this.responses.push(text);
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON (metrics)
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  exchange(
    token: string | undefined,
    secrets: string[],
    recipient: KeyPair = newRecipient(),
    baseUrl?: string,
    headers: Record<string, string> = {},
  ): Promise<HttpResult> {
    const body = { recipient: recipient.publicKey.toString('base64'), secrets };
    return this.workloadRequest('/v1/exchange', token, body, baseUrl, headers);
  }

  /** POST /v1/list with `body` ({} lists everything the token's workload may read). */
  list(
    token: string | undefined,
    body: unknown = {},
    baseUrl?: string,
    headers: Record<string, string> = {},
  ): Promise<HttpResult> {
    return this.workloadRequest('/v1/list', token, body, baseUrl, headers);
  }

  /** A workload's JSON request with its bearer token (none when undefined). */
  private workloadRequest(
    path: string,
    token: string | undefined,
    body: unknown,
    baseUrl: string | undefined,
    headers: Record<string, string>,
  ): Promise<HttpResult> {
    return this.request('POST', path, {
      ...(baseUrl === undefined ? {} : { baseUrl }),
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...headers,
      },
      body: JSON.stringify(body),
    });
  }

  /** The audit record of request `requestId` (the last one when a request left two), parsed. */
  async auditRecord(requestId: unknown): Promise<Record<string, unknown>> {
    const records = (await this.broker.stores.audit.page(0, 1_000_000))
      .map((entry) => JSON.parse(entry.record) as Record<string, unknown>)
      .filter((record) => record.request_id === requestId);
    const record = records.at(-1);
    if (record === undefined) throw new Error(`no audit record for request ${String(requestId)}`);
    return record;
  }

  admin(
    method: string,
    path: string,
    body?: unknown,
    token = this.adminToken,
    baseUrl?: string,
  ): Promise<HttpResult> {
    return this.request(method, `/v1/admin${path}`, {
      ...(baseUrl === undefined ? {} : { baseUrl }),
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async setSecret(name: string, value: string): Promise<number> {
    const result = await this.admin('PUT', `/secrets/${name}`, { value });
    if (result.status !== 201) throw new Error(`setting ${name} failed: ${result.text}`);
    return result.json.version as number;
  }

  async stopBroker(): Promise<void> {
    await this.broker.close();
  }

  async close(): Promise<void> {
    for (const replica of this.replicas) await replica.close().catch(() => undefined);
    await this.broker.close().catch(() => undefined);
    await this.github.stop();
    await this.gitlab.stop();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}
