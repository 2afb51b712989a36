/** Seals an output the way a job does: crypto_box_seal of the JSON {name, value} to the run-output key. */
import sodium from 'sodium-native';

export function sealOutput(key: Buffer, payload: { name: string; value: string }): string {
  const message = Buffer.from(JSON.stringify(payload), 'utf8');
  const box = Buffer.alloc(message.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(box, message, key);
  return box.toString('base64');
}
