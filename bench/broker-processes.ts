/** Broker replicas for the exchange bench: the compiled CLI, as deployed, with or without TLS. */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/helpers/child-process.js';
import { freePort } from '../test/helpers/free-port.js';

export interface Replica {
  readonly child: ChildProcess;
  readonly port: number;
}

export interface ReplicaOptions {
  readonly count: number;
  readonly policyFile: string;
  readonly dataDir: string;
  /** Each replica's log (one JSON audit line per exchange, as in production) goes to LOGPREFIX-N.log. */
  readonly logPrefix: string;
  readonly masterKeyHex: string;
  readonly adminToken: string;
  readonly databaseUrl?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

export async function startReplicas(options: ReplicaOptions): Promise<Replica[]> {
  const replicas: Replica[] = [];
  try {
    for (let index = 0; index < options.count; index += 1) {
      const port = await freePort();
      const log = openSync(`${options.logPrefix}-${index}.log`, 'a');
      const child = spawn(
        'node',
        [
          join(REPO_ROOT, 'bin/secrets-broker.js'),
          'serve',
          '--policy',
          options.policyFile,
          '--data-dir',
          options.dataDir,
          '--port',
          String(port),
          ...(options.tls === undefined
            ? []
            : ['--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile]),
        ],
        {
          env: {
            PATH: process.env.PATH,
            SECRETS_BROKER_MASTER_KEY: options.masterKeyHex,
            SECRETS_BROKER_BOOTSTRAP_TOKEN: options.adminToken,
            ...(options.databaseUrl === undefined
              ? {}
              : { SECRETS_BROKER_DATABASE_URL: options.databaseUrl }),
          },
          stdio: ['ignore', log, log],
        },
      );
      replicas.push({ child, port });
      const ca = options.tls === undefined ? undefined : await readFile(options.tls.certFile);
      await waitUntilHealthy(child, port, ca, `${options.logPrefix}-${index}.log`);
    }
  } catch (error) {
    await stopReplicas(replicas);
    throw error;
  }
  return replicas;
}

/** GET /healthz answers 200 (over TLS when `ca`, the certificate to trust, is given). */
function healthy(port: number, ca: Buffer | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const get = ca === undefined ? httpGet : httpsGet;
    const request = get({ host: '127.0.0.1', port, path: '/healthz', ca, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.once('error', () => resolve(false));
    request.once('timeout', () => request.destroy());
  });
}

async function waitUntilHealthy(
  child: ChildProcess,
  port: number,
  ca: Buffer | undefined,
  log: string,
): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if (await healthy(port, ca)) return;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`a broker replica did not start; see ${log}`);
}

export async function stopReplicas(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }),
  );
}
