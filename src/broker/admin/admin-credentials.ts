import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminRole, AdminTokens } from '../store/interfaces.js';

/** Admin tokens look like "sbadm_<id>_<secret>": the id finds the record, the secret is compared by hash. */
const TOKEN_ID = '[0-9a-f]{16}';
const TOKEN_FORMAT = new RegExp(`^sbadm_(${TOKEN_ID})_([A-Za-z0-9_-]{43})$`);
const TOKEN_ID_FORMAT = new RegExp(`^${TOKEN_ID}$`);
export const MIN_ENVIRONMENT_TOKEN_LENGTH = 32;
export const ENVIRONMENT_TOKEN_ID = 'environment';

export interface AdminIdentity {
  readonly tokenId: string;
  readonly label: string;
  readonly role: AdminRole;
}

export interface NewAdminToken {
  readonly id: string;
  readonly token: string;
  readonly tokenHash: Buffer;
}

/** Whether `token` has the shape of a token the broker issued ("sbadm_<id>_<secret>"), whatever its role. */
export function isIssuedAdminToken(token: string): boolean {
  return TOKEN_FORMAT.test(token);
}

/** Whether `id` has the shape of a stored token's id (what "token list" shows). */
export function isAdminTokenId(id: string): boolean {
  return TOKEN_ID_FORMAT.test(id);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function generateAdminToken(): NewAdminToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `sbadm_${id}_${secret}`, tokenHash: sha256(secret) };
}

/** Stores a new token's hash and returns the token, which exists in clear only in this answer. */
export async function createAdminToken(
  tokens: AdminTokens,
  label: string,
  role: AdminRole,
): Promise<{ id: string; token: string; label: string; role: AdminRole; createdAt: string }> {
  const created = generateAdminToken();
  const createdAt = new Date().toISOString();
  await tokens.insert({ id: created.id, label, role, tokenHash: created.tokenHash, createdAt });
  return { id: created.id, token: created.token, label, role, createdAt };
}

/**
 * Checks admin bearer tokens: stored tokens (only their hashes are kept) and, when configured, the owner
 * token from SECRETS_BROKER_BOOTSTRAP_TOKEN (or the deprecated SECRETS_BROKER_ADMIN_TOKEN, named by
 * `environmentTokenVariable`). Every comparison is of equal-length hashes in constant time.
 */
export class AdminCredentials {
  private readonly environmentTokenHash: Buffer | undefined;

  constructor(
    private readonly tokens: AdminTokens,
    environmentToken: string | undefined,
    private readonly environmentTokenVariable = 'SECRETS_BROKER_BOOTSTRAP_TOKEN',
  ) {
    this.environmentTokenHash = environmentToken === undefined ? undefined : sha256(environmentToken);
  }

  static validateEnvironmentToken(token: string, variable = 'SECRETS_BROKER_BOOTSTRAP_TOKEN'): void {
    if (token.length < MIN_ENVIRONMENT_TOKEN_LENGTH) {
      throw new Error(
        `${variable} is ${token.length} characters; use at least ${MIN_ENVIRONMENT_TOKEN_LENGTH} random ones (openssl rand -hex 32)`,
      );
    }
    // An issued token keeps the role it was created with; as the server's owner token it would become owner.
    if (isIssuedAdminToken(token)) {
      throw new Error(
        `${variable} holds a token the broker issued (sbadm_…), which keeps the role it was created with and cannot be the server's owner token; set ${variable} to a fresh random value (openssl rand -hex 32), or unset it`,
      );
    }
  }

  /** The identity behind `presented`, or undefined when it is not a valid, unrevoked token. */
  async authenticate(presented: string): Promise<AdminIdentity | undefined> {
    const match = TOKEN_FORMAT.exec(presented);
    if (match === null) {
      if (this.environmentTokenHash === undefined) return undefined;
      return timingSafeEqual(sha256(presented), this.environmentTokenHash)
        ? { tokenId: ENVIRONMENT_TOKEN_ID, label: this.environmentTokenVariable, role: 'owner' }
        : undefined;
    }
    // An issued token is only ever what its stored record says, never the environment's owner token.
    const record = await this.tokens.find(match[1] as string);
    const secretHash = sha256(match[2] as string);
    if (record === undefined || record.tokenHash.length !== secretHash.length) return undefined;
    if (!timingSafeEqual(record.tokenHash, secretHash) || record.revokedAt !== undefined) return undefined;
    return { tokenId: record.id, label: record.label, role: record.role };
  }
}
