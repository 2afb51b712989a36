#!/usr/bin/env node
import { fetchMain } from './secrets-fetch-main.js';

process.exitCode = await fetchMain(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  environment: process.env,
});
