import type { TokenUse } from '../store/interfaces.js';

/** Tokens remembered per replica; the oldest go first. The database stays the authority. */
const MAX_REMEMBERED = 100_000;

/**
 * The tokens this replica has seen spent, so that a spent token is refused right after its signature is
 * checked, before any policy or matching work: a token that was used once cannot be replayed as fuel for
 * expensive requests. The database's single-use record decides in the end; this only answers early.
 */
export class SpentTokens {
  private readonly expiries = new Map<string, number>();

  constructor(private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000)) {}

  remember(use: TokenUse): void {
    const key = keyOf(use);
    this.expiries.delete(key);
    this.expiries.set(key, use.expiresAtSeconds);
    if (this.expiries.size > MAX_REMEMBERED)
      this.expiries.delete(this.expiries.keys().next().value as string);
  }

  has(use: TokenUse): boolean {
    const key = keyOf(use);
    const expiry = this.expiries.get(key);
    if (expiry === undefined) return false;
    if (expiry < this.nowSeconds()) {
      this.expiries.delete(key);
      return false;
    }
    return true;
  }
}

function keyOf(use: TokenUse): string {
  return `${use.issuer}\n${use.jtiHash}`;
}
