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
  return undefined;
}
