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
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
    return `must be a plain address, without user name, password, "?" query or "#" fragment, not "${text}"`;
  return undefined;
}

/**
 * The broker's address in one spelling, used both to reach the broker and as the default audience: the URL as
 * WHATWG URL writes it (scheme and host in lower case, no default port) without trailing slashes, so
 * `https://Secrets.example.com/` and `https://secrets.example.com:443` both become `https://secrets.example.com`.
 * Call it only on a text `brokerUrlProblem` accepts.
 */
export function normalBrokerUrl(text: string): string {
  const url = new URL(text);
  let path = url.pathname;
  while (path.endsWith('/')) path = path.slice(0, -1);
  return `${url.origin}${path}`;
}
