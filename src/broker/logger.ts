import { pino, type DestinationStream, type Logger } from 'pino';
import { printableJson } from '../protocol/printable.js';

/**
 * Log lines are JSON, and JSON escapes only C0 controls: claims and names can carry C1 controls, bidi
 * overrides and invisible characters, which would act on whoever reads the log in a terminal. They are written
 * as \u escapes, and each line stays valid JSON.
 */
function escapedLines(destination: DestinationStream): DestinationStream {
  return { write: (line: string) => destination.write(printableJson(line)) };
}

/**
 * JSON log lines. Nothing logs request bodies or headers; the redaction below is a second line of defence
 * for any field that could ever carry a value or a credential.
 */
export function createLogger(
  level: string = process.env.SECRETS_BROKER_LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { service: 'secrets-broker' },
    redact: {
      paths: ['value', '*.value', 'token', '*.token', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  return pino(options, escapedLines(destination ?? pino.destination(1)));
}
