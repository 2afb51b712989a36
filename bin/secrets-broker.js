#!/usr/bin/env node
// Runs the compiled CLI (npm run build:lib writes lib/).
await import('../lib/cli/secrets-broker.js');
