import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { masterKeyFromBytes } from '../../src/broker/store/master-key.js';
import { CsrfTokens, isSameOrigin } from '../../src/broker/ui/csrf.js';
import { EndedSessions, MAX_ENDED_SESSIONS } from '../../src/broker/ui/ended-sessions.js';
import { IDLE_LIMIT_MS, SESSION_LIFETIME_MS, SessionSealer } from '../../src/broker/ui/session.js';
import { endedMessage } from '../../src/broker/ui/views/sign-in-view.js';

const master = masterKeyFromBytes(randomBytes(32));
const TOKEN = 'sbadm_0123456789abcdef_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';

function clock(start = 1_800_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return { now: () => current, advance: (ms) => void (current += ms) };
}

describe('SessionSealer', () => {
  it('opens what it sealed, and the cookie holds neither the token nor anything readable', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const session = sealer.create(TOKEN);
    const sealed = sealer.seal(session);
    expect(sealer.open(sealed)).toEqual({ session });
    expect(sealed).not.toContain(TOKEN);
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain('sbadm_');
    expect(sealer.seal(session)).not.toBe(sealed);
  });

  it('another replica with the same master key opens it; another master key does not', () => {
    const time = clock();
    const sealed = new SessionSealer(master, time.now).seal(
      new SessionSealer(master, time.now).create(TOKEN),
    );
    expect('session' in new SessionSealer(master, time.now).open(sealed)).toBe(true);
    const other = new SessionSealer(masterKeyFromBytes(randomBytes(32)), time.now);
    expect(other.open(sealed)).toEqual({ ended: 'invalid' });
  });

  it('refuses every changed byte, a truncated cookie, junk and an oversized value', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const bytes = Buffer.from(sealer.seal(sealer.create(TOKEN)), 'base64url');
    for (let index = 0; index < bytes.length; index += 1) {
      const changed = Buffer.from(bytes);
      changed[index] = (changed[index] ?? 0) ^ 0x01;
      expect(sealer.open(changed.toString('base64url'))).toEqual({ ended: 'invalid' });
    }
    expect(sealer.open(bytes.subarray(0, 20).toString('base64url'))).toEqual({ ended: 'invalid' });
    expect(sealer.open('not base64url!')).toEqual({ ended: 'invalid' });
    expect(sealer.open('A'.repeat(5000))).toEqual({ ended: 'invalid' });
    expect(sealer.open(undefined)).toEqual({ ended: 'none' });
    expect(sealer.open('')).toEqual({ ended: 'none' });
  });

  it('ends a session after its idle limit, unless each request touched it', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const session = sealer.create(TOKEN);
    time.advance(IDLE_LIMIT_MS - 1);
    const touched = sealer.touch(session);
    expect('session' in sealer.open(sealer.seal(session))).toBe(true);
    time.advance(1);
    expect(sealer.open(sealer.seal(session))).toEqual({ ended: 'idle' });
    expect('session' in sealer.open(sealer.seal(touched))).toBe(true);
  });

  it('ends every session at its absolute end, however active', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    let session = sealer.create(TOKEN);
    for (let elapsed = 0; elapsed < SESSION_LIFETIME_MS - IDLE_LIMIT_MS; elapsed += IDLE_LIMIT_MS / 2) {
      time.advance(IDLE_LIMIT_MS / 2);
      session = sealer.touch(session);
      expect('session' in sealer.open(sealer.seal(session))).toBe(true);
    }
    time.advance(IDLE_LIMIT_MS);
    session = sealer.touch(session);
    expect(sealer.open(sealer.seal(session))).toEqual({ ended: 'expired' });
  });

  it('refuses a session sealed far in the future (a replica with a wrong clock, or a forged time)', () => {
    const time = clock();
    const ahead = new SessionSealer(master, () => time.now() + 10 * 60_000);
    expect(new SessionSealer(master, time.now).open(ahead.seal(ahead.create(TOKEN)))).toEqual({
      ended: 'invalid',
    });
  });
});

describe('CsrfTokens', () => {
  const csrf = new CsrfTokens(master);

  it('binds the sign-in token to the nonce and the session token to the session', () => {
    const nonce = csrf.newNonce();
    expect(CsrfTokens.matches(csrf.forSignIn(nonce), csrf.forSignIn(nonce))).toBe(true);
    expect(CsrfTokens.matches(csrf.forSignIn(nonce), csrf.forSignIn(csrf.newNonce()))).toBe(false);
    expect(CsrfTokens.matches(csrf.forSignIn(nonce), nonce)).toBe(false);
    expect(CsrfTokens.matches(csrf.forSession('a'), csrf.forSignIn('a'))).toBe(false);
    expect(
      CsrfTokens.matches(
        csrf.forSession('a'),
        new CsrfTokens(masterKeyFromBytes(randomBytes(32))).forSession('a'),
      ),
    ).toBe(false);
    expect(CsrfTokens.matches(csrf.forSession('a'), undefined)).toBe(false);
    expect(CsrfTokens.matches(csrf.forSession('a'), '')).toBe(false);
  });
});

describe('isSameOrigin', () => {
  const host = '127.0.0.1:8080';
  it.each([
    [{ origin: 'http://127.0.0.1:8080', secFetchSite: 'same-origin', host }, true],
    [{ origin: 'https://127.0.0.1:8080', secFetchSite: undefined, host }, true],
    [{ origin: 'http://127.0.0.1:8080', secFetchSite: 'same-site', host }, false],
    [{ origin: 'http://127.0.0.1:8080', secFetchSite: 'cross-site', host }, false],
    [{ origin: 'https://evil.example', secFetchSite: undefined, host }, false],
    [{ origin: 'http://127.0.0.1:8081', secFetchSite: undefined, host }, false],
    [{ origin: 'null', secFetchSite: undefined, host }, false],
    // Referrer-Policy no-referrer makes a browser send Origin: null on its own forms' POSTs.
    [{ origin: 'null', secFetchSite: 'same-origin', host }, true],
    [{ origin: 'https://evil.example', secFetchSite: 'cross-site', host }, false],
    [{ origin: 'null', secFetchSite: 'none', host }, false],
    [{ origin: undefined, secFetchSite: undefined, host }, false],
    [{ origin: 'http://127.0.0.1:8080', secFetchSite: undefined, host: undefined }, false],
    [{ origin: 'file:///etc', secFetchSite: undefined, host: '' }, false],
  ])('%j is same-origin: %s', (headers, expected) => {
    expect(isSameOrigin(headers)).toBe(expected);
  });
});

describe('session limits', () => {
  it('ends a session after 4 hours whatever its activity, and after 20 minutes without a request', () => {
    expect(SESSION_LIFETIME_MS).toBe(4 * 3_600_000);
    expect(IDLE_LIMIT_MS).toBe(20 * 60_000);
    expect(endedMessage('expired')).toContain('4-hour limit');
    expect(endedMessage('idle')).toContain('20 minutes');
  });
});

describe('endedMessage', () => {
  it('knows only its own codes: nothing inherited from Object answers', () => {
    expect(endedMessage('signed-out')).toBe('You signed out.');
    for (const code of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '', 'nope'])
      expect(endedMessage(code), code).toBeUndefined();
    expect(endedMessage(undefined)).toBeUndefined();
  });
});

describe('EndedSessions', () => {
  it('ends a signed-out session by its id, and no other', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const ended = new EndedSessions(time.now);
    const out = sealer.create(TOKEN);
    const other = sealer.create(TOKEN);
    expect(ended.end(out)).toBe(false);
    expect(ended.isEnded(out)).toBe(true);
    expect(ended.isEnded(sealer.touch(out))).toBe(true);
    expect(ended.isEnded(other)).toBe(false);
    expect(ended.size).toBe(1);
  });

  it('keeps an id until its session would have expired anyway, then prunes it when the list is full', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const ended = new EndedSessions(time.now, 2);
    const first = sealer.create(TOKEN);
    const second = sealer.create(TOKEN);
    ended.end(first);
    ended.end(second);
    time.advance(SESSION_LIFETIME_MS);
    const later = sealer.create(TOKEN);
    const bystander = sealer.create(TOKEN);
    expect(ended.end(later)).toBe(false);
    expect(ended.size).toBe(1);
    expect(ended.isEnded(later)).toBe(true);
    expect(ended.isEnded(bystander)).toBe(false);
  });

  it('when full of sessions still in force drops none: every session issued until now ends on this replica', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const capacity = 3;
    const ended = new EndedSessions(time.now, capacity);
    const signedOut = Array.from({ length: capacity }, () => sealer.create(TOKEN));
    for (const session of signedOut) expect(ended.end(session)).toBe(false);
    const bystander = sealer.create(TOKEN);
    // A session sealed by a replica whose clock runs 30 s ahead.
    const ahead = { ...sealer.create(TOKEN), issuedAt: time.now() + 30_000 };
    time.advance(1);
    expect(ended.end(ahead)).toBe(true);
    expect(ended.size).toBe(0);
    for (const session of [...signedOut, bystander, ahead]) expect(ended.isEnded(session)).toBe(true);
    time.advance(30_000);
    const fresh = sealer.create(TOKEN);
    expect(ended.isEnded(fresh)).toBe(false);
    expect(ended.end(fresh)).toBe(false);
    expect(ended.isEnded(fresh)).toBe(true);
    expect(ended.size).toBe(1);
  });

  it('never holds more than its bound', () => {
    const time = clock();
    const sealer = new SessionSealer(master, time.now);
    const ended = new EndedSessions(time.now);
    for (let index = 0; index < MAX_ENDED_SESSIONS + 5; index += 1) {
      time.advance(1);
      ended.end(sealer.create(TOKEN));
    }
    expect(ended.size).toBeLessThanOrEqual(MAX_ENDED_SESSIONS);
    expect(MAX_ENDED_SESSIONS).toBe(10_000);
  });
});
