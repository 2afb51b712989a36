// Regenerates docs/refused-env-names.md from REFUSED_ENV_NAMES (run: npm run docs:env-names).
import { writeFileSync } from 'node:fs';
import { REFUSED_ENV_NAMES } from '../src/client/refused-env-names.js';

const table = (tier: 'always' | 'derived', header: string) => {
  const rows = REFUSED_ENV_NAMES.filter((group) => group.tier === tier).map((group) => {
    const names = [...group.prefixes.map((p) => `\`${p}*\``), ...group.names.map((n) => `\`${n}\``)].join(
      ', ',
    );
    const except =
      group.except === undefined ? '' : ` (except ${group.except.map((n) => `\`${n}\``).join(', ')})`;
    return `| ${names}${except} | ${group.reason} |`;
  });
  return [`| ${header} | why |`, '| --- | --- |', ...rows].join('\n');
};

const doc = `# Variable names the action and secrets-fetch refuse

Some environment variables make a tool that a later step starts run, load or download code: \`LD_AUDIT\` loads a
library into every program, \`GIT_CONFIG_PARAMETERS\` sets \`core.sshCommand\`, \`TAR_OPTIONS\` can hold
\`--checkpoint-action=exec=...\` (and \`actions/cache\` and the \`setup-*\` actions run tar), \`ERL_AFLAGS\` can hold
\`-eval\`, \`NODE_OPTIONS\` adds \`--require\`, \`PIP_INDEX_URL\` says where packages come from. Others point a tool
at a configuration file, a daemon, an endpoint or a proxy: \`KUBECONFIG\`, \`DOCKER_HOST\`, \`HTTPS_PROXY\`. Anyone
who may store a secret under a pattern a workflow reads (such as \`prod/shared/*\`) could choose such a name.

The action and \`secrets-fetch\` check every variable name, in any letter case, in every output format and with
\`exec\` (and the action's \`run\`), in two tiers:

- **Refused always**: the variable's value is run or loaded, or code or binaries are fetched from where it says.
  It is refused whether the name is derived from the secret's name or written as \`ENV=NAME\`: whoever can
  store the secret chooses the value.
- **Refused when the name comes from the secret**: the variable points a tool at a configuration or
  credentials file, a daemon, an endpoint or a proxy. It is refused when the name is derived from a stored
  secret's name (through a pattern such as \`prod/shared/*\`, or a bare \`NAME\` line), and allowed when the
  workflow writes it itself as \`ENV=NAME\` or \`ENV=@NAME\` (\`KUBECONFIG=@prod/k8s/kubeconfig\`): then the
  workflow chose to take that setting from that secret.

A name that comes through a pattern must also be shaped like a credential (its last word \`TOKEN\`,
\`PASSWORD\`, \`SECRET\`, \`KEY\`, \`WEBHOOK\`, \`DSN\`, \`ID\`, \`USER\`, ...): no list can name every variable a build
reads (MSBuild and make read them all), and whoever stores secrets under the pattern chooses the names. Write
any other name on a line of its own (\`REGION=prod/shared/REGION\`).

A refused name fails the step before anything is written: the error names each secret and variable and shows
the line to use instead.

These tables are generated from \`REFUSED_ENV_NAMES\` in \`src/client/refused-env-names.ts\`; a test keeps them
equal. An entry ending in \`*\` is a prefix; \`except\` lists names under a prefix that only carry a credential,
which the tool sends and never runs or follows (a \`*\` inside one stands for any characters).

## Refused always

${table('always', 'refused, derived or written (any letter case)')}

## Refused when the name comes from the secret

${table('derived', 'refused when derived, allowed as ENV=NAME (any letter case)')}

Allowed, by design: credential variables such as \`AWS_ACCESS_KEY_ID\`, \`AWS_SECRET_ACCESS_KEY\`,
\`AWS_SESSION_TOKEN\`, \`AZURE_CLIENT_SECRET\`, \`GH_TOKEN\`, \`NPM_TOKEN\`, \`NODE_AUTH_TOKEN\`, \`CARGO_REGISTRY_TOKEN\`,
\`TF_VAR_*\`, \`TF_TOKEN_*\`, \`VAULT_TOKEN\`, \`PGPASSWORD\`, the credential exceptions in the tables, and any name not
listed. \`GO\` is not a prefix: only the Go variables listed are refused, so \`GOOGLE_*\` is allowed.

The list cannot be complete. MSBuild takes every environment variable as a property and make takes every one
as a variable, so a project that reads \`$(SOMETHING)\` from the environment to run or import something can be
reached by a secret named \`SOMETHING\`; the tables cover the variables the common runner tools read themselves.
Prefer \`ENV=NAME\` lines over patterns for secrets that a later step hands to a build.

## Using such a secret anyway

Give it a name of your own on a line of its own. A secret named on its own line is left out of every
pattern, so the pattern keeps working for the others:

\`\`\`yaml
secrets: |
  prod/shared/*
  MY_GIT_TOKEN=prod/shared/GIT_TOKEN
  HTTPS_PROXY=prod/shared/HTTPS_PROXY
\`\`\`

The second line exports an always-refused name under another name; the third exports a variable of the second
table under its own name, because the workflow wrote it. The error message shows these lines for each refused
secret. If a tool really must read a variable of the first table, set it for the one step that needs it, where
the workflow shows it:

\`\`\`yaml
- run: ./release.sh
  env:
    GIT_TOKEN: \${{ env.MY_GIT_TOKEN }}
\`\`\`

With \`secrets-fetch\`, write \`--secret MY_GIT_TOKEN=prod/shared/GIT_TOKEN\`, and set \`GIT_TOKEN\` for the one
command that needs it.
`;
writeFileSync(new URL('../docs/refused-env-names.md', import.meta.url), doc);
