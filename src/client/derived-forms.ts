/**
 * The lines of a value as logs break them: at CRLF, LF and a lone CR too (the runner reads its output with .NET's
 * ReadLine, which ends a line at each of them, and masks line by line).
 */
export function logLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/**
 * The encodings of a secret value that tools commonly print, masked (the action) and redacted (secrets-fetch
 * exec) along with the value itself: hex, standard base64 (with and without its `=` padding), base64url, and
 * URL-encoding (as encodeURIComponent and as a form field writes it), each of the value's UTF-8 bytes.
 */
export function derivedForms(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const base64 = bytes.toString('base64');
  return [
    ...new Set([
      bytes.toString('hex'),
      base64,
      base64.replace(/=+$/, ''),
      bytes.toString('base64url'),
      encodeURIComponent(text),
      new URLSearchParams({ v: text }).toString().slice(2),
    ]),
  ].filter((form) => form !== text);
}
