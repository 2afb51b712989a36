import { join } from 'node:path';
import { run } from './child-process.js';

/** A self-signed ECDSA P-256 certificate for 127.0.0.1, as most certificates issued today. */
export async function selfSignedCertificate(
  directory: string,
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
    '1',
    '-subj',
    '/CN=127.0.0.1',
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
