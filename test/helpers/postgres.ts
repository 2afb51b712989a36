/**
 * A real PostgreSQL 15 cluster for tests: initdb and pg_ctl in a temp directory, on a free loopback port.
 * As root, the server runs as the postgres user (PostgreSQL refuses to run as root).
 */
import { chown, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { run } from './child-process.js';
import { freePort } from './free-port.js';

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export class PostgresCluster {
  private constructor(
    readonly directory: string,
    readonly port: number,
    /** PostgreSQL's default durability (fsync on) for the bench; tests run with fsync off, for speed. */
    private readonly durable = false,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/broker`;
  }

  static async start(options: { durable?: boolean } = {}): Promise<PostgresCluster> {
    const directory = await mkdtemp(join(tmpdir(), 'pg-'));
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: group } = await run('id', ['-g', 'postgres']);
      await chown(directory, Number(stdout.trim()), Number(group.trim()));
    }
    const cluster = new PostgresCluster(directory, await freePort(), options.durable === true);
    await cluster.pg('initdb', [
      '-D',
      join(directory, 'data'),
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await cluster.startServer();
    const admin = new pg.Client({
      connectionString: `postgres://postgres@127.0.0.1:${cluster.port}/postgres`,
    });
    await admin.connect();
    await admin.query('CREATE DATABASE broker');
    await admin.end();
    return cluster;
  }

  async startServer(): Promise<void> {
    await this.pg('pg_ctl', [
      '-D',
      join(this.directory, 'data'),
      '-l',
      join(this.directory, 'server.log'),
      '-w',
      '-o',
      `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.directory}${this.durable ? '' : ' -c fsync=off'} -c max_connections=200`,
      'start',
    ]);
  }

  /** Stops the server at once (clients see their connections cut), as an outage would. */
  async stopServer(): Promise<void> {
    await this.pg('pg_ctl', ['-D', join(this.directory, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  async stop(): Promise<void> {
    await this.pg('pg_ctl', ['-D', join(this.directory, 'data'), '-m', 'fast', '-w', 'stop']).catch(
      () => undefined,
    );
  }

  private async pg(tool: string, args: readonly string[]): Promise<void> {
    const command = join(BIN, tool);
    const result =
      process.getuid?.() === 0
        ? await run('runuser', ['-u', 'postgres', '--', command, ...args], { cwd: this.directory })
        : await run(command, args, { cwd: this.directory });
    if (result.code !== 0)
      throw new Error(`${tool} ${args.join(' ')} failed (${result.code}): ${result.stderr || result.stdout}`);
  }
}
