import { h, type Html } from './html.js';

export const VIEWS = [
  { path: '/ui/secrets', title: 'Secrets' },
  { path: '/ui/matrix', title: 'Access matrix' },
  { path: '/ui/explain', title: 'Explain' },
  { path: '/ui/audit', title: 'Audit' },
  { path: '/ui/health', title: 'Health' },
] as const;

export type ViewPath = (typeof VIEWS)[number]['path'];

/** Who is signed in, and the CSRF token of the sign-out (and every other) form of the session. */
export interface Viewer {
  readonly label: string;
  readonly role: string;
  readonly csrf: string;
}

function navigation(current: ViewPath | undefined, viewer: Viewer): Html {
  return h`<nav aria-label="Views">
  <span class="brand">secrets-broker</span>
  <ul>${VIEWS.map(
    (view) =>
      h`<li><a href="${view.path}"${view.path === current ? h` aria-current="page"` : ''}>${view.title}</a></li>`,
  )}</ul>
  <form class="sign-out" method="post" action="/ui/sign-out">
    <span class="who">${viewer.label} <span class="role">${viewer.role}</span></span>
    <input type="hidden" name="csrf" value="${viewer.csrf}">
    <button type="submit">Sign out</button>
  </form>
</nav>`;
}

function document(title: string, body: Html): Html {
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · secrets-broker</title>
<link rel="stylesheet" href="/ui/static/dashboard.css">
</head>
<body>
${body}
</body>
</html>`;
}

/** A signed-in page: the navigation, the view's title and its content. Read-only: no form here writes anything. */
export function page(options: {
  readonly title: string;
  readonly current?: ViewPath;
  readonly viewer: Viewer;
  readonly content: Html;
}): Html {
  return document(
    options.title,
    h`${navigation(options.current, options.viewer)}
<main>
<h1>${options.title}</h1>
${options.content}
</main>`,
  );
}

/** A page without the navigation: sign-in, and errors met before a session is known. */
export function plainPage(title: string, content: Html): Html {
  return document(title, h`<main class="narrow"><h1>${title}</h1>${content}</main>`);
}

/** What went wrong, what was not done, and how to go on. */
export function errorContent(message: string, hint: string | undefined, requestId: string): Html {
  return h`<p class="problem" role="alert">${message}</p>
${hint === undefined ? '' : h`<p class="hint">${hint}</p>`}
<p class="muted">Request id <code>${requestId}</code> (the broker's log and audit name it).</p>
<p><a href="/ui/secrets">Back to the dashboard</a> · <a href="/ui/sign-in">Sign in</a></p>`;
}
