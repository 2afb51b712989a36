// Bundled into dist/ by esbuild, so secrets-fetch.js knows its version when downloaded on its own.
import packageJson from '../../package.json' with { type: 'json' };

/** The version of the action and secrets-fetch: the package's. */
export const CLIENT_VERSION: string = packageJson.version;
