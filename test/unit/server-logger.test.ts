import { describe, expect, it } from 'vitest';
import { chooseLogFormat, createLogger, type LogFormat } from '../../src/broker/logger.js';
import { hasUnprintable } from '../../src/protocol/printable.js';

const HOSTILE = 'acme/\u001b]0;owned\u0007demo\u009b31m\u202etxt.exe\nforged: line';

function logOnce(format: LogFormat): string {
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) }, format);
  logger.warn(
    { repository: HOSTILE, rule: 'deploy', count: 3, value: 'must-not-appear' },
    `denied ${HOSTILE}`,
  );
  expect(lines).toHaveLength(1);
  return lines[0] as string;
}

describe('log format', () => {
  it('is JSON lines when stdout is not a terminal and readable lines on one, unless forced', () => {
    expect(chooseLogFormat({}, false)).toBe('json');
    expect(chooseLogFormat({}, true)).toBe('pretty');
    expect(chooseLogFormat({ SECRETS_BROKER_LOG_FORMAT: '' }, true)).toBe('pretty');
    expect(chooseLogFormat({ SECRETS_BROKER_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(chooseLogFormat({ SECRETS_BROKER_LOG_FORMAT: 'pretty' }, false)).toBe('pretty');
  });

  it('refuses an unknown format, naming the variable and the choices, escaped', () => {
    expect(() => chooseLogFormat({ SECRETS_BROKER_LOG_FORMAT: 'yaml\u001b[2J' }, false)).toThrow(
      'SECRETS_BROKER_LOG_FORMAT is "yaml\\x1b[2J": use json or pretty',
    );
  });

  it('writes the same fields in both forms, with every control character escaped', () => {
    const json = logOnce('json');
    const pretty = logOnce('pretty');
    for (const line of [json, pretty]) {
      expect(line.endsWith('\n')).toBe(true);
      // One record, one line, and nothing a terminal would act on.
      expect(hasUnprintable(line.slice(0, -1))).toBe(false);
      expect(line).not.toContain('must-not-appear');
    }
    const record = JSON.parse(json) as Record<string, unknown>;
    expect(record).toMatchObject({ level: 40, repository: HOSTILE, rule: 'deploy', count: 3 });
    expect(record.msg).toBe(`denied ${HOSTILE}`);
    expect(record.value).toBe('[redacted]');

    expect(pretty).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] WARN: denied acme\//);
    expect(pretty).toContain('denied acme/\\x1b]0;owned\\x07demo\\x9b31m\\u202etxt.exe\\nforged: line');
    const escaped = 'acme/\\x1b]0;owned\\x07demo\\x9b31m\\u202etxt.exe\\nforged: line';
    expect(pretty).toContain(` {"repository":"${escaped}","rule":"deploy","count":3,"value":"[redacted]"}\n`);
    // Every field of the JSON form is shown (service is the same on every line, so the pretty form leaves it out).
    const shown = ['level', 'time', 'msg', 'service', 'repository', 'rule', 'count', 'value'];
    expect(Object.keys(record).sort()).toEqual(shown.sort());
  });
});
