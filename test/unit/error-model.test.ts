import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { MissingIdTokenPermissionError } from '../../src/action/error-messages.js';
import { UnkeyedAuditChainError } from '../../src/broker/audit/audit-log.js';
import { ConfigError } from '../../src/broker/config.js';
import { BrokerError, toBrokerError, type BrokerOperation } from '../../src/broker/errors.js';
import { problemResponse } from '../../src/broker/http/problem.js';
import { LogFormatError } from '../../src/broker/logger.js';
import { IssuerKeysUnavailableError } from '../../src/broker/oidc/issuer-keys.js';
import { RegexSyntaxError, RegexUnsupportedError } from '../../src/broker/policy/linear-regex.js';
import { PolicyError } from '../../src/broker/policy/load-policy.js';
import { MatcherSyntaxError } from '../../src/broker/policy/matchers.js';
import { LookupError } from '../../src/broker/policy/pin.js';
import { RecipientKeyError } from '../../src/broker/sealing.js';
import { DecryptionError } from '../../src/broker/store/envelope.js';
import { StoreUnavailableError, TokenAlreadyUsedError } from '../../src/broker/store/interfaces.js';
import { RotationConflictError } from '../../src/broker/store/key-rotation.js';
import { MasterKeyError } from '../../src/broker/store/master-key.js';
import { SecretIntegrityError, SecretValueError } from '../../src/broker/store/secret-vault.js';
import { TrustProxyError } from '../../src/broker/traffic/source-ip.js';
import { CliError, reportFailure } from '../../src/cli/cli-error.js';
import {
  BrokerProblemError,
  BrokerUnreachableError,
  ResponseIntegrityError,
  TokenRequestError,
  TokensUsedUpError,
} from '../../src/client/errors.js';
import { ExportPlanError } from '../../src/client/export-plan.js';
import { failureMessage } from '../../src/client/failure-message.js';
import { FormatError } from '../../src/client/formats.js';
import { PrivateFileError } from '../../src/client/private-files.js';
import { SealedBoxError } from '../../src/client/sealed-box.js';
import { InputError } from '../../src/client/secret-lines.js';
import { NoTokenError } from '../../src/client/token-sources.js';
import { PatternTooLargeError, WorkBudget, WorkBudgetExceededError } from '../../src/protocol/automaton.js';
import { TooLargeError } from '../../src/protocol/bounded-read.js';
import { BoundedRequestError } from '../../src/protocol/bounded-request.js';
import { CodedError } from '../../src/protocol/coded-error.js';
import { GlobSyntaxError } from '../../src/protocol/glob.js';
import { RequestedEntryError } from '../../src/protocol/secret-names.js';
import { PROBLEM_TYPES, type ProblemCode } from '../../src/protocol/wire.js';

function budgetError(limit: number): WorkBudgetExceededError {
  try {
    new WorkBudget(limit).spend(limit + 1);
  } catch (error) {
    return error as WorkBudgetExceededError;
  }
  throw new Error('the budget did not refuse');
}

/** One instance of every error class of ours, with the code it must carry. */
const EVERY_ERROR: readonly (readonly [CodedError, string])[] = [
  [new MissingIdTokenPermissionError(), 'missing_id_token_permission'],
  [new UnkeyedAuditChainError(3), 'audit_chain_unkeyed'],
  [new ConfigError('x'), 'config_invalid'],
  [new ConfigError('x', true), 'config_usage'],
  [new BrokerError('policy_denied', 'x'), 'policy_denied'],
  [new LogFormatError('x'), 'log_format_invalid'],
  [new IssuerKeysUnavailableError('x'), 'issuer_keys_unavailable'],
  [new RegexSyntaxError('x'), 'regex_syntax'],
  [new RegexUnsupportedError('x'), 'regex_unsupported'],
  [new PolicyError([]), 'policy_invalid'],
  [new MatcherSyntaxError('x'), 'matcher_syntax'],
  [new LookupError('x'), 'lookup_failed'],
  [new RecipientKeyError('x'), 'recipient_key_invalid'],
  [new DecryptionError('x'), 'decryption_failed'],
  [new StoreUnavailableError('x'), 'store_unavailable'],
  [new TokenAlreadyUsedError('x'), 'token_already_used'],
  [new RotationConflictError('x'), 'rotation_conflict'],
  [new MasterKeyError('x'), 'master_key_invalid'],
  [new SecretValueError('x'), 'secret_value_invalid'],
  [new SecretIntegrityError('x'), 'secret_integrity'],
  [new TrustProxyError('x'), 'trust_proxy_invalid'],
  [new CliError('x'), 'cli_failed'],
  [
    new BrokerProblemError(429, { title: 't', status: 429, detail: 'd', code: 'rate_limited' }),
    'rate_limited',
  ],
  [new BrokerUnreachableError('x'), 'broker_unreachable'],
  [new ResponseIntegrityError('x'), 'response_integrity'],
  [new TokenRequestError('x'), 'token_request_failed'],
  [new TokensUsedUpError('x'), 'tokens_used_up'],
  [new ExportPlanError('x'), 'export_refused'],
  [new FormatError('x'), 'format_refused'],
  [new PrivateFileError('x'), 'private_file_refused'],
  [new SealedBoxError('x'), 'sealed_box_invalid'],
  [new InputError('x'), 'input_invalid'],
  [new NoTokenError('x'), 'no_token'],
  [new PatternTooLargeError('x'), 'pattern_too_large'],
  [budgetError(5), 'work_budget_exceeded'],
  [new TooLargeError('x'), 'file_too_large'],
  [new BoundedRequestError('network', 'x', 'ECONNREFUSED'), 'request_failed'],
  [new GlobSyntaxError('x'), 'glob_syntax'],
  [new RequestedEntryError('x'), 'requested_entry_invalid'],
];
/** Classes no module exports (each is used where it is declared); the source scan still checks their base. */
const UNEXPORTED = ['UsageError', 'CountRefused'];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every `class X extends Y` in src/ whose chain of bases ends at Error: name → base. */
function declaredErrorClasses(): Map<string, { base: string; file: string }> {
  const bases = new Map<string, { base: string; file: string }>();
  for (const file of sourceFiles('src')) {
    for (const match of readFileSync(file, 'utf8').matchAll(/\bclass (\w+) extends (\w+)/g))
      bases.set(match[1] as string, { base: match[2] as string, file: relative('src', file) });
  }
  const isError = (name: string, seen = 0): boolean =>
    name === 'Error' || (seen < 20 && bases.has(name) && isError(bases.get(name)?.base as string, seen + 1));
  return new Map([...bases].filter(([name]) => isError(name)));
}

describe('the error model: one base with a stable code', () => {
  it('every error class of ours extends CodedError, and only CodedError extends Error', () => {
    const classes = declaredErrorClasses();
    const direct = [...classes].filter(([, { base }]) => base === 'Error').map(([name]) => name);
    expect(direct).toEqual(['CodedError']);
    expect(classes.get('CodedError')?.file).toBe(join('protocol', 'coded-error.ts'));
    const reachesBase = (name: string): boolean =>
      name === 'CodedError' || reachesBase(classes.get(name)?.base as string);
    for (const name of classes.keys()) expect(reachesBase(name), name).toBe(true);
  });

  it('every error class has its stable code (a new class must be added here with its code)', () => {
    const declared = [...declaredErrorClasses().keys()].filter((name) => name !== 'CodedError').sort();
    const covered = [
      ...new Set([...EVERY_ERROR.map(([error]) => error.constructor.name), ...UNEXPORTED]),
    ].sort();
    expect(covered).toEqual(declared);
    for (const [error, code] of EVERY_ERROR) {
      expect(error).toBeInstanceOf(CodedError);
      expect(error.code, error.constructor.name).toBe(code);
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
  });

  it('a hint given to an error is kept on it for whoever prints it', () => {
    expect(new MasterKeyError('bad key', 'set it').hint).toBe('set it');
    expect(new CliError('failed', 'do this').hint).toBe('do this');
    expect(new UnkeyedAuditChainError(1).hint).toContain('--key-legacy-audit');
    expect(new BrokerError('forbidden', 'no', { hint: 'ask' }).hint).toBe('ask');
  });
});

describe('toBrokerError: the one mapping of codes to problems', () => {
  const expected: readonly (readonly [CodedError, ProblemCode])[] = [
    [new StoreUnavailableError('database down'), 'unavailable'],
    [new SecretIntegrityError('cannot decrypt'), 'unavailable'],
    [new IssuerKeysUnavailableError('no keys'), 'unavailable'],
    [budgetError(7), 'invalid_request'],
    [new RecipientKeyError('not a key'), 'invalid_request'],
    [new RequestedEntryError('bad name'), 'invalid_request'],
    [new SecretValueError('empty'), 'invalid_request'],
    [new RotationConflictError('under way'), 'invalid_request'],
    [new DecryptionError('bug'), 'internal'],
    [new PolicyError([]), 'internal'],
  ];
  for (const during of ['exchange', 'admin', 'request'] as const satisfies readonly BrokerOperation[]) {
    it(`maps each code to its problem and status (${during})`, () => {
      for (const [error, code] of expected) {
        const problem = toBrokerError(error, during);
        expect(problem.code, error.code).toBe(code);
        expect(PROBLEM_TYPES[problem.code].status).toBe(
          code === 'unavailable' ? 503 : code === 'internal' ? 500 : 400,
        );
      }
    });
  }

  it('passes a BrokerError through as it is', () => {
    const error = new BrokerError('policy_denied', 'no');
    expect(toBrokerError(error, 'exchange')).toBe(error);
  });

  it('answers a store outage with 503 unavailable and one text, and reports its cause only to the operator', async () => {
    const reports: string[][] = [];
    const problems = (['exchange', 'admin', 'request'] as const).map((during) =>
      toBrokerError(
        new StoreUnavailableError('connect ECONNREFUSED 10.0.0.5:5432'),
        during,
        (event, detail) => reports.push([event, detail]),
      ),
    );
    expect(
      new Set(problems.map((problem) => `${problem.code} ${problem.message} ${problem.hint}`)).size,
    ).toBe(1);
    expect(problems[0]?.message).not.toContain('ECONNREFUSED');
    expect(reports).toEqual(
      Array.from({ length: 3 }, () => ['store unavailable', 'connect ECONNREFUSED 10.0.0.5:5432']),
    );

    const app = new Hono();
    app.get('/', () => {
      throw new StoreUnavailableError('database down');
    });
    app.onError((error, c) => problemResponse(c, toBrokerError(error, 'request'), 'req-1'));
    const response = await app.request('/');
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({
      type: 'urn:secrets-action:problem:unavailable',
      status: 503,
      code: 'unavailable',
      request_id: 'req-1',
    });
  });

  it('answers anything else with 500 internal, reported with its name', () => {
    const reports: string[][] = [];
    const problem = toBrokerError(new TypeError('boom'), 'exchange', (event, detail) =>
      reports.push([event, detail]),
    );
    expect([problem.code, problem.message]).toEqual([
      'internal',
      'the broker failed unexpectedly; nothing was released',
    ]);
    expect(reports).toEqual([['exchange failed unexpectedly', 'TypeError: boom']]);
  });

  it('names the work budget of the exchange, and keeps the admin wording for an explanation', () => {
    expect(toBrokerError(budgetError(250_000), 'exchange').message).toContain('the 250000 steps');
    expect(toBrokerError(budgetError(9), 'admin').message).toBe(
      'the patterns need more matching work than one request may use, so it was not explained',
    );
  });
});

describe('the client and the CLI map codes to messages in one place each', () => {
  it('the client words each of its errors by code', () => {
    expect(failureMessage(new InputError('line 2: bad\nline 3: worse'))).toBe(
      'Invalid input:\nline 2: bad\nline 3: worse',
    );
    expect(failureMessage(new PrivateFileError('exists'))).toBe('Nothing was written: exists');
    expect(failureMessage(new NoTokenError('no token\u001b[31m'))).toBe('no token\\x1b[31m');
    expect(failureMessage(new SealedBoxError('bad box'))).toBe('secrets-action failed: bad box');
  });

  it('the CLI prints the error and its hint, and exits 2 for a malformed option', () => {
    const lines: string[] = [];
    const stream = { write: (text: string) => lines.push(text) } as unknown as NodeJS.WritableStream;
    expect(reportFailure(stream, new ConfigError('--port is not a number', true))).toBe(2);
    expect(reportFailure(stream, new MasterKeyError('no key', 'set SECRETS_BROKER_MASTER_KEY'))).toBe(1);
    expect(reportFailure(stream, new CliError('', undefined, 3))).toBe(3);
    expect(reportFailure(stream, new Error('plain'))).toBe(1);
    expect(lines).toEqual([
      'error: --port is not a number\n',
      'error: no key\n',
      'hint: set SECRETS_BROKER_MASTER_KEY\n',
      'error: plain\n',
    ]);
  });
});
