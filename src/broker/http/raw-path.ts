/**
 * Why a request's path, as the client sent it, is refused, or undefined when it is fine. The URL parser
 * behind the router resolves "." and ".." segments (also percent-encoded) and reads "\" as "/", so
 * `/v1/admin/secrets/a/../../tokens/ID` would reach another route than the one it names. No route of the
 * broker has such a segment: a path that has one is refused before routing.
 */
export function rawPathProblem(rawUrl: string): string | undefined {
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  if (path.includes('\\')) return 'the path has a backslash';
  for (const segment of path.split('/')) {
    const spelled = segment.replace(/%2e/gi, '.');
    if (spelled === '.' || spelled === '..') return `the path has a "${segment}" segment`;
  }
  return undefined;
}
