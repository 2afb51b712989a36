import type { FileIdentity } from '../client/private-files.js';

/** The state name under which the main step tells the post step what it created (saved before any value is written). */
export const STATE_CREATED = 'created';

/** Files and directories the main step created, each with the device, inode and times that tell it apart. */
export interface CreatedState {
  readonly files: readonly FileIdentity[];
  readonly directories: readonly FileIdentity[];
}

export const NOTHING_CREATED: CreatedState = { files: [], directories: [] };

export function encodeCreated(state: CreatedState): string {
  const plain = (entries: readonly FileIdentity[]) =>
    entries.map(({ path, dev, ino, birthNs, ctimeNs }) => ({ path, dev, ino, birthNs, ctimeNs }));
  return JSON.stringify({ files: plain(state.files), directories: plain(state.directories) });
}

const DECIMAL = /^[0-9]{1,40}$/;

const isDecimal = (value: unknown): boolean => typeof value === 'string' && DECIMAL.test(value);

function isIdentity(value: unknown): value is FileIdentity {
  if (typeof value !== 'object' || value === null) return false;
  const { path, dev, ino, birthNs, ctimeNs } = value as Record<string, unknown>;
  return (
    typeof path === 'string' &&
    path !== '' &&
    isDecimal(dev) &&
    isDecimal(ino) &&
    (birthNs === undefined || isDecimal(birthNs)) &&
    (ctimeNs === undefined || isDecimal(ctimeNs))
  );
}

/**
 * Reads the saved state; anything without a path, device and inode, or with a time that is not a decimal, is
 * dropped (never removed blindly). A file recorded without a birth or change time is left alone by the cleanup.
 */
export function decodeCreated(text: string): CreatedState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return NOTHING_CREATED;
  }
  if (typeof parsed !== 'object' || parsed === null) return NOTHING_CREATED;
  const list = (value: unknown): FileIdentity[] =>
    Array.isArray(value)
      ? value.filter(isIdentity).map(({ path, dev, ino, birthNs, ctimeNs }) => ({
          path,
          dev,
          ino,
          ...(birthNs === undefined ? {} : { birthNs }),
          ...(ctimeNs === undefined ? {} : { ctimeNs }),
        }))
      : [];
  const { files, directories } = parsed as Record<string, unknown>;
  return { files: list(files), directories: list(directories) };
}
