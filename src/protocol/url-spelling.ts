/**
 * One spelling of an http(s) address, so that two spellings of the same address compare equal: the URL as
 * WHATWG URL parsing writes it (scheme and host in lower case, no default port, dot segments resolved) without
 * trailing slashes. `https://Secrets.example.com/` and `https://secrets.example.com:443` both become
 * `https://secrets.example.com`. The clients use it for the broker's address and default audience, and the
 * broker to compare audiences, so both sides agree on which spellings are one address.
 *
 * Undefined for a text that is not an http(s) URL, and for one with a user name or password, or with a "?"
 * or "#" (even an empty query or fragment, which URL parsing drops): such a text is only ever itself.
 */
export function normalHttpUrl(text: string): string | undefined {
  if (text.includes('?') || text.includes('#')) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  let path = url.pathname;
  while (path.endsWith('/')) path = path.slice(0, -1);
  return `${url.origin}${path}`;
}
