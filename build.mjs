// Bundles the action's main and post steps and secrets-fetch into dist/ (committed). Deterministic: same sources, same bytes.
import { writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

const banner =
  '// Built by build.mjs from src/ with esbuild; do not edit. Rebuild with: npm run build\n' +
  "import { createRequire as __createRequire } from 'node:module';\n" +
  'const require = __createRequire(import.meta.url);';

await build({
  entryPoints: {
    index: 'src/action/index.ts',
    post: 'src/action/post.ts',
    'secrets-fetch': 'src/cli/secrets-fetch.ts',
  },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outExtension: { '.js': '.js' },
  splitting: false,
  // Minified: less for Node.js to parse and compile on every job (see npm run bench:client).
  minify: true,
  legalComments: 'eof',
  banner: { js: banner },
  logLevel: 'warning',
});

// The bundles are ES modules wherever dist/ ends up.
await writeFile('dist/package.json', '{ "type": "module" }\n');
