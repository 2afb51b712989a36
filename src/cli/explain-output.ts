import type { Explanation } from '../broker/policy/explain.js';

function show(values: readonly string[] | undefined): string {
  if (values === undefined) return '(missing)';
  return values.length === 1 ? JSON.stringify(values[0]) : JSON.stringify(values);
}

/** The explanation as text: every rule, every claim with expected and actual, and every requested secret. */
export function formatExplanation(explanation: Explanation): string[] {
  const lines = [
    explanation.issuer === null
      ? `Issuer: ${explanation.issuer_url ?? '(none)'}: ${explanation.note ?? ''}`
      : `Issuer: ${explanation.issuer} (${explanation.issuer_url ?? ''}). Signatures and token lifetimes are not checked here.`,
    '',
    'Rules:',
  ];
  for (const rule of explanation.rules) {
    if (!rule.issuer_matches) {
      lines.push(`  [ ] ${rule.name} (line ${rule.line}): for issuer "${rule.issuer}", not this token's`);
      continue;
    }
    lines.push(
      `  [${rule.matched ? 'x' : ' '}] ${rule.name} (line ${rule.line}): ${rule.matched ? 'matches' : 'does not match'}`,
    );
    for (const check of rule.claims) {
      lines.push(
        `        ${check.matched ? 'ok  ' : 'FAIL'} ${check.claim}: token has ${show(check.actual)}, rule wants ${check.expected}`,
      );
    }
  }
  if (explanation.secrets.length > 0) {
    lines.push('', 'Secrets:');
    for (const secret of explanation.secrets) {
      lines.push(
        secret.granted
          ? `  ${secret.entry}: granted by ${secret.rules.join(', ')}`
          : `  ${secret.entry}: DENIED: ${secret.reason ?? ''}`,
      );
    }
  } else {
    lines.push(
      '',
      `Matching rules: ${explanation.matched_rules.join(', ') || 'none'} (add --secret NAME to check a secret)`,
    );
  }
  return lines;
}
