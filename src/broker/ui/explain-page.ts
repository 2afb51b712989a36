import { explainRequestSchema, type ExplainRequest } from '../../protocol/admin-api.js';
import { closestRule } from './closest-rule.js';
import { WorkBudget } from '../../protocol/automaton.js';
import { entryGlobs, parseRequestedEntry } from '../../protocol/secret-names.js';
import { EXPLAIN_STEPS } from '../explain/explain.js';
import { Grants } from '../policy/evaluate.js';
import { BrokerError } from '../errors.js';
import { CsrfTokens } from './csrf.js';
import { adminContextOf, type DashboardContext, type SignedIn } from './dashboard-env.js';
import type { DashboardDependencies } from './dependencies.js';
import { formField, readForm } from './form-body.js';
import { checkSameOrigin } from './sign-in.js';
import type { Html } from './views/html.js';
import { explainView, type ExplainInput } from './views/explain-view.js';

const MAX_INPUT_LENGTH = 64 * 1024;
const MAX_SECRETS_TEXT = 8 * 1024;
/** Secrets one explain asks about (the admin API takes 100; a page shows fewer). */
const MAX_SECRETS = 20;

function explainRequestOf(input: ExplainInput): ExplainRequest {
  const text = input.text.trim();
  if (text === '') throw new BrokerError('invalid_request', 'paste a token or a JSON object of claims');
  const secrets = input.secrets
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (secrets.length > MAX_SECRETS)
    throw new BrokerError('invalid_request', `ask about at most ${MAX_SECRETS} secrets at once`);
  let subject: Pick<ExplainRequest, 'claims' | 'token'>;
  if (text.startsWith('{')) {
    let claims: unknown;
    try {
      claims = JSON.parse(text);
    } catch {
      throw new BrokerError('invalid_request', 'the claims are not valid JSON', {
        hint: 'paste a JSON object such as {"repository": "acme/api", "ref": "refs/heads/main"}, or a token',
      });
    }
    subject = { claims: claims as Record<string, unknown> };
  } else {
    subject = { token: text };
  }
  const parsed = explainRequestSchema.safeParse({
    ...subject,
    secrets,
    ...(input.sourceIp === '' ? {} : { source_ip: input.sourceIp }),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BrokerError(
      'invalid_request',
      `the explain form is not valid: ${issue?.path.join('.') || 'input'} ${issue?.message ?? ''}`.trim(),
      { hint: 'claims must be a JSON object; a token at most 16 KiB; a client address IPv4 or IPv6' },
    );
  }
  return parsed.data;
}

/** GET /ui/explain: the empty form. */
export function explainFormPage(signedIn: SignedIn): Html {
  return explainView(signedIn.viewer.csrf, { text: '', secrets: '', sourceIp: '' }, undefined);
}

/** POST /ui/explain: the policy's decision for the pasted claims or token, as `policy explain` gives it. */
export async function explainResultPage(
  c: DashboardContext,
  deps: DashboardDependencies,
  signedIn: SignedIn,
): Promise<Html> {
  checkSameOrigin(c);
  const form = await readForm(c);
  if (!CsrfTokens.matches(signedIn.viewer.csrf, formField(form, 'csrf', 128))) {
    throw new BrokerError('forbidden', 'refused: the explain form did not come from this session', {
      hint: 'open Explain from the dashboard and send its form',
    });
  }
  // Browsers send a textarea's line breaks as CRLF.
  const input: ExplainInput = {
    text: (formField(form, 'input', MAX_INPUT_LENGTH) ?? '').replace(/\r\n?/g, '\n'),
    secrets: (formField(form, 'secrets', MAX_SECRETS_TEXT) ?? '').replace(/\r\n?/g, '\n'),
    sourceIp: (formField(form, 'source_ip', 64) ?? '').trim(),
  };
  const request = explainRequestOf(input);
  const explanation = await deps.admin.explain(signedIn.identity, request, adminContextOf(c));
  const policy = deps.policy.current;
  // Granting as explain and the exchange decide it: the entry's grammar (NAME?, NAME@N, a|b, patterns) and the
  // rule's grants intersected with it, metered like explain.
  const budget = new WorkBudget(EXPLAIN_STEPS);
  const grants = (rule: string, secret: string): boolean => {
    // The admin explain above has parsed every entry already: an invalid one never gets here.
    const ruleGrants = new Grants(
      policy.rules.filter((candidate) => candidate.name === rule),
      budget,
    );
    return entryGlobs(parseRequestedEntry(secret)).some((glob) => ruleGrants.rulesGranting(glob).length > 0);
  };
  const closest = (request.secrets ?? []).map((secret) => ({
    secret,
    rule: closestRule(explanation, (rule) => grants(rule, secret)),
  }));
  const overall = closestRule(explanation, () => false);
  // A pasted token is not shown again (claims are): the page keeps no workload credential.
  const shown = request.token === undefined ? input : { ...input, text: '' };
  return explainView(signedIn.viewer.csrf, shown, {
    explanation,
    closest,
    overall,
    wasToken: request.token !== undefined,
  });
}
