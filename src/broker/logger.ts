import { CodedError } from '../protocol/coded-error.js';
import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { printable, printableJson } from '../protocol/printable.js';

type Environment = Readonly<Record<string, string | undefined>>;

/** JSON lines for machines (not a terminal), one readable line a record for people (a terminal); same fields. */
export type LogFormat = 'json' | 'pretty';

export const LOG_FORMAT_VARIABLE = 'SECRETS_BROKER_LOG_FORMAT';

export class LogFormatError extends CodedError {
  readonly code: string = 'log_format_invalid';
  override name = 'LogFormatError';
}

/** SECRETS_BROKER_LOG_FORMAT when set (json or pretty), else pretty on a terminal and JSON lines otherwise. */
export function chooseLogFormat(environment: Environment, isTerminal: boolean): LogFormat {
  const forced = environment[LOG_FORMAT_VARIABLE];
  if (forced === undefined || forced === '') return isTerminal ? 'pretty' : 'json';
  if (forced === 'json' || forced === 'pretty') return forced;
  throw new LogFormatError(
    `${LOG_FORMAT_VARIABLE} is "${printable(forced)}": use json or pretty, or unset it (pretty on a terminal, JSON lines otherwise)`,
  );
}

/**
 * Log lines are JSON, and JSON escapes only C0 controls: claims and names can carry C1 controls, bidi
 * overrides and invisible characters, which would act on whoever reads the log in a terminal. They are written
 * as \u escapes, and each line stays valid JSON.
 */
function escapedLines(destination: DestinationStream): DestinationStream {
  return { write: (line: string) => destination.write(printableJson(line)) };
}

/** Every key and string of a parsed record through `printable`, so a value cannot drive the terminal. */
function printableRecord(value: unknown): unknown {
  if (typeof value === 'string') return printable(value);
  if (Array.isArray(value)) return value.map(printableRecord);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [printable(key), printableRecord(inner)]),
    );
  }
  return value;
}

/**
 * One readable line per record (time, level, message, then the other fields). pino-pretty prints strings as
 * they are, so every string is escaped before it sees them; its own colours are the only escapes it writes.
 */
function prettyLines(destination: DestinationStream, colorize: boolean): DestinationStream {
  const prettify = prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o',
    ignore: 'service',
  });
  return {
    write: (line: string) => destination.write(prettify(printableRecord(JSON.parse(line)))),
  };
}

/**
 * Log records in `format`. Nothing logs request bodies or headers; the redaction below is a second line of
 * defence for any field that could ever carry a value or a credential.
 */
export function createLogger(
  level: string = process.env.SECRETS_BROKER_LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
  format: LogFormat = 'json',
  colorize = false,
): Logger {
  const options = {
    level,
    base: { service: 'secrets-broker' },
    redact: {
      paths: ['value', '*.value', 'token', '*.token', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  const target = destination ?? pino.destination(1);
  return pino(options, format === 'pretty' ? prettyLines(target, colorize) : escapedLines(target));
}

/** The logger of a CLI command: level from SECRETS_BROKER_LOG_LEVEL, format chosen for stdout. */
export function createCommandLogger(
  environment: Environment,
  defaultLevel: string,
  stdoutIsTerminal: boolean = process.stdout.isTTY === true,
): Logger {
  const format = chooseLogFormat(environment, stdoutIsTerminal);
  return createLogger(
    environment.SECRETS_BROKER_LOG_LEVEL ?? defaultLevel,
    undefined,
    format,
    format === 'pretty' && stdoutIsTerminal && environment.NO_COLOR === undefined,
  );
}
