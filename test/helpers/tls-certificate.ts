import { join } from 'node:path';
import { run } from './child-process.js';

/**
 * A self-signed ECDSA P-256 certificate, as most certificates issued today: for 127.0.0.1 and valid for a day
 * unless told otherwise.
 */
export async function selfSignedCertificate(
  directory: string,
  { days = 1, subject = '/CN=127.0.0.1' }: { days?: number; subject?: string } = {},
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(directory, 'cert.pem');
  const keyFile = join(directory, 'key.pem');
  const generated = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    String(days),
    '-subj',
    subject,
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  if (generated.code !== 0) throw new Error(`openssl could not make a certificate: ${generated.stderr}`);
  return { certFile, keyFile };
}
