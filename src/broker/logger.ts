import { pino, type DestinationStream, type Logger } from 'pino';

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
  return destination === undefined ? pino(options) : pino(options, destination);
}
