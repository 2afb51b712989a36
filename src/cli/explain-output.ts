import type { Explanation } from '../broker/explain/explain.js';
import { printable } from '../protocol/printable.js';

/** Claim values come from a token nobody verified here: quoted, and escaped past what JSON escapes. */
function show(values: readonly string[] | undefined): string {
  if (values === undefined) return '(missing)';
  return printable(values.length === 1 ? JSON.stringify(values[0]) : JSON.stringify(values));
}

const MARK: Readonly<Record<string, string>> = { passed: 'ok  ', failed: 'FAIL', not_checked: '--  ' };

/** The token checks as text: the broker's decision first, then each check in the broker's order. */
function formatTokenChecks(token: NonNullable<Explanation['token']>): string[] {
  const p = printable;
  const lines =
    token.refused === null
      ? [
          token.signature_checked
            ? "Token: passes every check the broker makes before the policy (the signature verified offline with the issuer's pinned keys), except whether it was already used, which is not checked here."
            : 'Token: passes every check the broker makes before the policy, except the signature and whether it was already used, which are not checked here.',
        ]
      : [
          `Token: the broker would refuse it: ${p(token.refused.code)}: ${p(token.refused.detail)}`,
          ...(token.refused.hint === null ? [] : [`  hint: ${p(token.refused.hint)}`]),
        ];
  for (const check of token.checks)
    lines.push(
      `  ${MARK[check.result] ?? check.result} ${p(check.check.replace(/_/g, ' '))}: ${p(check.detail)}`,
    );
  return [...lines, ''];
}

type RuleExplanation = Explanation['rules'][number];
type ConditionCheck = RuleExplanation['conditions'][number];

function conditionLine(check: ConditionCheck): string {
  const p = printable;
  const mark = check.holds === null ? '--  ' : check.holds ? 'ok  ' : 'FAIL';
  if (check.condition === 'source_ips') {
    const seen =
      check.actual === null ? 'not checked (give --source-ip ADDRESS)' : `client address ${p(check.actual)}`;
    return `${mark} when.source_ips: ${seen}, rule allows ${p(check.expected)}`;
  }
  return `${mark} when.time: it is ${p(check.actual ?? '')}, rule allows ${p(check.expected)}`;
}

function ruleDecision(rule: RuleExplanation): string {
  if (!rule.matched) return 'does not match';
  const failed = rule.conditions.filter((check) => check.holds === false);
  if (failed.length === 0) return 'matches';
  const names = failed.map((check) => `when.${check.condition}`).join(' and ');
  return `claims match but ${failed.length === 1 ? `condition ${names} fails` : `conditions ${names} fail`}: grants nothing`;
}

/** The explanation as text: the token checks, every rule, every claim with expected and actual, and every requested secret. */
export function formatExplanation(explanation: Explanation): string[] {
  const p = (text: string | null | undefined): string => printable(text ?? '');
  const lines = [
    ...(explanation.token === null ? [] : formatTokenChecks(explanation.token)),
    explanation.issuer === null
      ? `Issuer: ${explanation.issuer_url === null ? '(none)' : p(explanation.issuer_url)}: ${p(explanation.note)}`
      : `Issuer: ${p(explanation.issuer)} (${p(explanation.issuer_url)}).${explanation.token === null ? ' Claims given as a file: the token checks (signature, audience, lifetime) are not made.' : ''}`,
    `Conditions checked for client address ${explanation.source_ip === null ? '(not given)' : p(explanation.source_ip)} at ${explanation.at === null ? 'the present time' : p(explanation.at)}.`,
    '',
    'Rules:',
  ];
  for (const rule of explanation.rules) {
    if (!rule.issuer_matches) {
      lines.push(
        `  [ ] ${p(rule.name)} (line ${rule.line}): for issuer "${p(rule.issuer)}", not this token's`,
      );
      continue;
    }
    lines.push(`  [${rule.grants ? 'x' : ' '}] ${p(rule.name)} (line ${rule.line}): ${ruleDecision(rule)}`);
    for (const check of rule.claims) {
      lines.push(
        `        ${check.matched ? 'ok  ' : 'FAIL'} ${p(check.claim)}: token has ${show(check.actual)}, rule wants ${p(check.expected)}`,
      );
    }
    for (const condition of rule.conditions) lines.push(`        ${conditionLine(condition)}`);
  }
  if (explanation.secrets.length > 0) {
    lines.push('', 'Secrets:');
    for (const secret of explanation.secrets) {
      lines.push(
        secret.granted
          ? `  ${p(secret.entry)}: granted by ${secret.rules.map(p).join(', ')}${secret.assumes === null ? '' : ` if the client address is allowed: ${p(secret.assumes)}`}`
          : `  ${p(secret.entry)}: DENIED: ${p(secret.reason)}`,
      );
    }
  } else {
    lines.push(
      '',
      `Matching rules: ${explanation.matched_rules.map(p).join(', ') || 'none'} (add --secret NAME to check a secret)`,
    );
  }
  return lines;
}
