/**
 * The exchange bench's workload, shaped like an organisation's: repositories on three issuers (two
 * GitHub-shaped, one GitLab-shaped), two rules per repository (production deploys from main, CI on any
 * branch) and one per owner and issuer, ten secrets per repository from a 32-byte password to a kubeconfig of
 * several KB, and ID tokens with the claims GitHub and GitLab send, each for a repository drawn at random.
 */
import { randomBytes } from 'node:crypto';
import sodium from 'sodium-native';
import { githubClaims, gitlabClaims, type TestIssuer } from '../test/helpers/oidc-issuer.js';
import type { Job } from './load-driver.js';

export interface BenchIssuer {
  /** The issuer's name in the policy. */
  readonly name: string;
  readonly shape: 'github' | 'gitlab';
  readonly issuer: TestIssuer;
}

interface Repository {
  readonly issuer: BenchIssuer;
  readonly owner: string;
  readonly ownerId: string;
  /** owner/name */
  readonly path: string;
  readonly id: string;
}

export interface Secret {
  readonly name: string;
  readonly value: string;
}

const OWNERS = 20;
/** How repositories spread over the issuers, in tenths: six GitHub, two GitHub Enterprise, two GitLab. */
const ISSUER_SHARES = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2] as const;

const letters = (length: number): string =>
  randomBytes(length).toString('base64url').replace(/[-_]/g, 'x').slice(0, length);

function pem(label: string, bytes: number): string {
  const body = randomBytes(bytes).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body.trimEnd()}\n-----END ${label}-----\n`;
}

function gcpCredentials(project: string): string {
  return JSON.stringify(
    {
      type: 'service_account',
      project_id: project,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: pem('PRIVATE KEY', 1218),
      client_email: `deployer@${project}.iam.gserviceaccount.com`,
      client_id: String(100_000_000_000_000_000_000n + BigInt(randomBytes(4).readUInt32BE())),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'https://oauth2.googleapis.com/token',
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/deployer%40${project}.iam.gserviceaccount.com`,
      universe_domain: 'googleapis.com',
    },
    null,
    2,
  );
}

function kubeconfig(cluster: string): string {
  const data = (label: string, bytes: number) => Buffer.from(pem(label, bytes)).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${cluster}`,
    '  cluster:',
    `    server: https://${cluster}.k8s.internal.example:6443`,
    `    certificate-authority-data: ${data('CERTIFICATE', 800)}`,
    'users:',
    '- name: deployer',
    '  user:',
    `    client-certificate-data: ${data('CERTIFICATE', 800)}`,
    `    client-key-data: ${data('RSA PRIVATE KEY', 1190)}`,
    'contexts:',
    `- name: ${cluster}`,
    '  context:',
    `    cluster: ${cluster}`,
    '    user: deployer',
    `current-context: ${cluster}`,
    '',
  ].join('\n');
}

/** Each repository's ten production secrets, the one-secret exchanges asking for the first. */
const SECRET_SHAPES: readonly { readonly name: string; readonly value: (repository: string) => string }[] = [
  { name: 'API_TOKEN', value: () => `ghp_${letters(36)}` },
  { name: 'DB_PASSWORD', value: () => letters(32) },
  { name: 'NPM_TOKEN', value: () => `npm_${letters(36)}` },
  { name: 'AWS_SECRET_ACCESS_KEY', value: () => letters(40) },
  {
    name: 'SLACK_WEBHOOK',
    value: () => `https://hooks.slack.com/services/T${letters(10)}/B${letters(10)}/${letters(24)}`,
  },
  {
    name: 'DATABASE_URL',
    value: (repository) =>
      `postgres://${repository.replace(/\W/g, '_')}:${letters(32)}@db.internal.example:5432/app?sslmode=verify-full`,
  },
  { name: 'SIGNING_KEY', value: () => pem('PRIVATE KEY', 48) },
  { name: 'TLS_KEY', value: () => pem('PRIVATE KEY', 1218) },
  { name: 'GCP_CREDENTIALS', value: (repository) => gcpCredentials(repository.replace(/\W/g, '-')) },
  { name: 'KUBECONFIG', value: (repository) => kubeconfig(repository.replace(/\W/g, '-')) },
];

export class Workload {
  private readonly repositories: Repository[];
  /** Every secret to store: ten per repository, one CI secret per repository and two per owner. */
  readonly secrets: Secret[] = [];

  constructor(
    private readonly issuers: readonly BenchIssuer[],
    repositoryCount: number,
    private readonly audience: string,
  ) {
    this.repositories = Array.from({ length: repositoryCount }, (_, index) => {
      const owner = Math.floor(index / ISSUER_SHARES.length) % OWNERS;
      return {
        issuer: issuers[ISSUER_SHARES[index % ISSUER_SHARES.length]!]!,
        owner: `org${owner}`,
        ownerId: String(7000 + owner),
        path: `org${owner}/svc-${index}`,
        id: String(500_000 + index),
      };
    });
    for (const repository of this.repositories) {
      for (const shape of SECRET_SHAPES)
        this.secrets.push({
          name: `prod/${repository.path}/${shape.name}`,
          value: shape.value(repository.path),
        });
      this.secrets.push({ name: `ci/${repository.path}/TEST_DB_PASSWORD`, value: letters(32) });
    }
    for (const owner of new Set(this.repositories.map((repository) => repository.owner))) {
      this.secrets.push({ name: `shared/${owner}/SLACK_WEBHOOK`, value: letters(80) });
      this.secrets.push({
        name: `shared/${owner}/SENTRY_DSN`,
        value: `https://${letters(32)}@sentry.example/42`,
      });
    }
  }

  get repositoryCount(): number {
    return this.repositories.length;
  }

  /**
   * The secrets an exchange for `count` secrets asks for, as the first repository has them (for the floor).
   */
  sampleSecrets(count: number): Secret[] {
    const names = new Set(this.namesFor(this.repositories[0]!, count));
    return this.secrets.filter((secret) => names.has(secret.name));
  }

  policyYaml(): string {
    return [
      'version: 1',
      `audience: ${this.audience}`,
      'issuers:',
      ...this.issuers.flatMap((each) => [`  ${each.name}:`, `    url: ${each.issuer.url}`]),
      'rules:',
      ...this.rules(),
      '# The load comes from one address and spends every repository many times a second: lift the rate limits.',
      'limits:',
      '  per_source_ip: { rate: "1000000", burst: "1000000" }',
      '  per_workload: { rate: "1000000", burst: "1000000" }',
      '',
    ].join('\n');
  }

  get ruleCount(): number {
    return this.rules().length;
  }

  private rules(): string[] {
    const rules: string[] = [];
    for (const repository of this.repositories) {
      const slug = repository.path.replace('/', '-');
      const prod = `prod/${repository.path}/*`;
      const ci = `ci/${repository.path}/*`;
      if (repository.issuer.shape === 'github') {
        rules.push(
          rule(`${slug}-deploy`, repository.issuer.name, prod, [
            `repository_owner_id: '${repository.ownerId}'`,
            `repository_id: '${repository.id}'`,
            'ref: refs/heads/main',
            'environment: production',
            'event_name: [push, workflow_dispatch]',
            `workflow_ref: '${repository.path}/.github/workflows/*.yml@refs/heads/main'`,
          ]),
          rule(`${slug}-ci`, repository.issuer.name, ci, [
            `repository_id: '${repository.id}'`,
            'ref: refs/heads/*',
            'event_name: push',
          ]),
        );
      } else {
        rules.push(
          rule(`${slug}-deploy`, repository.issuer.name, prod, [
            `namespace_id: '${repository.ownerId}'`,
            `project_id: '${repository.id}'`,
            "ref_protected: 'true'",
            'environment: production',
            "environment_protected: 'true'",
          ]),
          rule(`${slug}-ci`, repository.issuer.name, ci, [
            `project_id: '${repository.id}'`,
            'ref_type: branch',
          ]),
        );
      }
    }
    const owners = new Map<string, Repository>();
    for (const repository of this.repositories)
      owners.set(`${repository.issuer.name} ${repository.owner}`, repository);
    for (const repository of owners.values()) {
      rules.push(
        rule(
          `${repository.owner}-${repository.issuer.name}-shared`,
          repository.issuer.name,
          `shared/${repository.owner}/*`,
          repository.issuer.shape === 'github'
            ? [`repository_owner_id: '${repository.ownerId}'`, "actor: { not: 'dependabot[bot]' }"]
            : [`namespace_id: '${repository.ownerId}'`, "ref_protected: 'true'"],
        ),
      );
    }
    return rules;
  }

  /**
   * `count` exchanges for `secrets` secrets each, for repositories drawn at random: a token minted now (valid
   * 5 minutes, used once) and a body with a fresh X25519 key, as each CI job sends.
   */
  async jobs(count: number, secrets: number): Promise<Job[]> {
    const jobs: Job[] = [];
    // Minted in batches: jose signs on libuv's thread pool, so a batch keeps both cores busy.
    for (let start = 0; start < count; start += 250) {
      const batch = Array.from({ length: Math.min(250, count - start) }, () => {
        const repository = this.repositories[Math.floor(Math.random() * this.repositories.length)]!;
        return { repository, token: this.mint(repository) };
      });
      for (const { repository, token } of batch) {
        jobs.push({
          token: await token,
          body: JSON.stringify({ recipient: recipientKey(), secrets: this.namesFor(repository, secrets) }),
        });
      }
    }
    return jobs;
  }

  /** A token of the same shape and size as the jobs' (for the crypto floor). */
  sampleToken(): Promise<string> {
    return this.mint(this.repositories[0]!);
  }

  private namesFor(repository: Repository, count: number): string[] {
    return SECRET_SHAPES.slice(0, count).map((shape) => `prod/${repository.path}/${shape.name}`);
  }

  private mint(repository: Repository): Promise<string> {
    const { issuer } = repository.issuer;
    if (repository.issuer.shape === 'gitlab') {
      return issuer.token(
        gitlabClaims(issuer.url, this.audience, {
          sub: `project_path:${repository.path}:ref_type:branch:ref:main`,
          namespace_id: repository.ownerId,
          namespace_path: repository.owner,
          project_id: repository.id,
          project_path: repository.path,
          ci_config_ref_uri: `gitlab.example.com/${repository.path}//.gitlab-ci.yml@refs/heads/main`,
        }),
      );
    }
    const workflow = `${repository.path}/.github/workflows/deploy.yml@refs/heads/main`;
    return issuer.token(
      githubClaims(issuer.url, this.audience, {
        sub: `repo:${repository.path}:environment:production`,
        repository: repository.path,
        repository_owner: repository.owner,
        repository_owner_id: repository.ownerId,
        repository_id: repository.id,
        workflow_ref: workflow,
        job_workflow_ref: workflow,
      }),
    );
  }
}

function rule(name: string, issuer: string, secrets: string, claims: readonly string[]): string {
  return [
    `  - name: ${name}`,
    `    issuer: ${issuer}`,
    '    claims:',
    ...claims.map((claim) => `      ${claim}`),
    `    secrets: ['${secrets}']`,
  ].join('\n');
}

/** A fresh X25519 public key, base64, as a job sends. */
export function recipientKey(): string {
  const publicKey = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  sodium.crypto_box_keypair(publicKey, Buffer.alloc(sodium.crypto_box_SECRETKEYBYTES));
  return publicKey.toString('base64');
}

/** "1.2 KB" */
export function size(bytes: number): string {
  return bytes < 1000 ? `${bytes} B` : `${(bytes / 1000).toFixed(1)} KB`;
}
