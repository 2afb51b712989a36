/**
 * What matching a token's rules costs for 10, 100 and 1000 rules: matchingRules as the exchange calls it (the
 * index offers the candidates), beside the same call with every rule of the issuer offered (a scan, as before
 * the index). Half the rules are GitHub's (an owner id, a repository id, a branch glob, an event list, a
 * workflow regex, a {not: ...} actor), half GitLab's; the token matches one rule. Prints the median of
 * BENCH_ROUNDS (7) rounds of microseconds per lookup, and the rules each lookup evaluates.
 *
 * Run: npx tsx bench/rules-bench.ts
 */
import { stringify } from 'yaml';
import { matchingRules } from '../src/broker/policy/evaluate.js';
import { candidateRules } from '../src/broker/policy/rule-index.js';
import { parsePolicy } from '../src/broker/policy/load-policy.js';
import type { CompiledPolicy, IssuerRuleIndex } from '../src/broker/policy/compiled-policy.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/** Each round looks up for this long, so a slow scan of 1000 rules takes no longer than a fast lookup. */
const ROUND_NANOSECONDS = 200_000_000n;
const SIZES = [10, 100, 1000];

function githubRule(index: number): object {
  return {
    name: `github-${index}`,
    issuer: 'github',
    claims: {
      repository_owner_id: '1234',
      repository_id: String(100_000 + index),
      ref: 'refs/heads/*',
      event_name: ['push', 'workflow_dispatch'],
      workflow_ref: { regex: `acme/repo-${index}/\\.github/workflows/deploy\\.yml@refs/heads/main` },
      actor: { not: 'dependabot[bot]' },
    },
    secrets: [`prod/repo-${index}/*`],
  };
}

function gitlabRule(index: number): object {
  return {
    name: `gitlab-${index}`,
    issuer: 'gitlab',
    claims: { project_id: String(200_000 + index), ref_protected: 'true', environment: 'production' },
    secrets: [`prod/project-${index}/*`],
  };
}

function policyOf(size: number): CompiledPolicy {
  const half = size / 2;
  const document = {
    version: '1',
    audience: 'https://secrets.bench.example',
    issuers: {
      github: { url: 'https://token.actions.githubusercontent.com' },
      gitlab: { url: 'https://gitlab.com' },
    },
    rules: [
      ...Array.from({ length: half }, (_, index) => githubRule(index)),
      ...Array.from({ length: half }, (_, index) => gitlabRule(index)),
    ],
  };
  return parsePolicy(stringify(document), 'bench-policy.yaml');
}

/** The same policy with every rule of an issuer offered to every token of it: what a lookup cost before the index. */
function scanning(policy: CompiledPolicy): CompiledPolicy {
  const ruleIndex = new Map<string, IssuerRuleIndex>();
  for (const issuer of policy.issuers.keys()) {
    const scan = policy.rules.flatMap((rule, position) => (rule.issuer === issuer ? [position] : []));
    ruleIndex.set(issuer, { byClaim: new Map(), scan });
  }
  return { ...policy, ruleIndex };
}

function tokenFor(size: number): Record<string, unknown> {
  const index = Math.floor(size / 4);
  return {
    repository_owner_id: '1234',
    repository_id: String(100_000 + index),
    repository: `acme/repo-${index}`,
    ref: 'refs/heads/main',
    event_name: 'push',
    workflow_ref: `acme/repo-${index}/.github/workflows/deploy.yml@refs/heads/main`,
    actor: 'alice',
    sub: `repo:acme/repo-${index}:ref:refs/heads/main`,
  };
}

function microsecondsPerLookup(policy: CompiledPolicy, claims: Record<string, unknown>): number {
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    let lookups = 0;
    while (elapsed < ROUND_NANOSECONDS) {
      for (let batch = 0; batch < 100; batch += 1) {
        if (matchingRules(policy, 'github', claims).length !== 1)
          throw new Error('expected one matching rule');
      }
      lookups += 100;
      elapsed = process.hrtime.bigint() - start;
    }
    samples.push(Number(elapsed) / 1000 / lookups);
  }
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)] as number;
}

const rows = SIZES.map((size) => {
  const policy = policyOf(size);
  const claims = tokenFor(size);
  const indexed = microsecondsPerLookup(policy, claims);
  const scanned = microsecondsPerLookup(scanning(policy), claims);
  return {
    rules: size,
    'indexed µs/lookup': indexed.toFixed(2),
    'scan µs/lookup': scanned.toFixed(2),
    'rules evaluated (indexed)': candidateRules(policy, 'github', claims).length,
    'rules evaluated (scan)': size / 2,
  };
});
console.table(rows);
const first = rows[0];
const last = rows[rows.length - 1];
if (first !== undefined && last !== undefined) {
  const ratio = Number(last['indexed µs/lookup']) / Number(first['indexed µs/lookup']);
  console.log(`indexed lookup, ${last.rules} rules / ${first.rules} rules: ${ratio.toFixed(2)}x`);
}
