import { normalHttpUrl } from '../protocol/url-spelling.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why `text` is not a usable broker address (https, or http on loopback only), or undefined when it is. */
export function brokerUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    return `must use https:// (http:// only for 127.0.0.1, localhost or [::1]), not "${text}"`;
  }
  // The text, not url.search and url.hash: URL parsing drops an empty query or fragment.
  if (url.username !== '' || url.password !== '' || text.includes('?') || text.includes('#'))
    return `must be a plain address, without user name, password, "?" query or "#" fragment, not "${text}"`;
  return undefined;
}

/**
 * The broker's address in one spelling (`normalHttpUrl`), used both to reach the broker and as the default
 * audience; the broker compares audiences in the same spelling. Call it only on a text `brokerUrlProblem` accepts.
 */
export function normalBrokerUrl(text: string): string {
  const spelling = normalHttpUrl(text);
  if (spelling === undefined)
    throw new Error('normalBrokerUrl was given an address brokerUrlProblem refuses');
  return spelling;
}
