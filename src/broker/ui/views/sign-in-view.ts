import { h, type Html } from './html.js';
import { plainPage } from './layout.js';
import { IDLE_LIMIT_MS, SESSION_LIFETIME_MS } from '../session.js';

/** Why the sign-in page is shown again, by the fixed code in its query (never free text from a URL). */
const ENDED_MESSAGES: ReadonlyMap<string, string> = new Map([
  ['expired', `Your session reached its ${SESSION_LIFETIME_MS / 3_600_000}-hour limit: sign in again.`],
  ['idle', `Your session ended after ${IDLE_LIMIT_MS / 60_000} minutes without a request: sign in again.`],
  [
    'invalid',
    "Your session could not be read (the broker's master key changed, or the cookie was altered): sign in again.",
  ],
  [
    'revoked',
    'Your session ended: its admin token is no longer valid (revoked, or the server token changed).',
  ],
  ['signed-out', 'You signed out.'],
]);

/** The message for an `ended` code of the sign-in URL; undefined for any other text (`constructor` included). */
export function endedMessage(code: string | undefined): string | undefined {
  return code === undefined ? undefined : ENDED_MESSAGES.get(code);
}

/** The sign-in form: the admin token in a password field, posted with its CSRF token, never put in a URL. */
export function signInPage(
  csrf: string,
  message: { readonly text: string; readonly problem: boolean } | undefined,
): Html {
  return plainPage(
    'Sign in to the dashboard',
    h`${message === undefined ? '' : h`<p class="${message.problem ? 'problem' : 'notice'}" role="${message.problem ? 'alert' : 'status'}">${message.text}</p>`}
<form method="post" action="/ui/sign-in" class="sign-in">
  <input type="hidden" name="csrf" value="${csrf}">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus spellcheck="false">
  <button type="submit">Sign in</button>
</form>
<p class="muted">Any admin token will do: an <code>auditor</code> token sees every view. The dashboard is read-only:
it never shows or changes a secret value (use the <code>secrets-broker</code> CLI to change anything). The token is
kept only in an encrypted, HttpOnly session cookie and checked again on every request.</p>`,
  );
}
