import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const secretKeyFileName = 'secret.key';

/**
 * The installation's secret key: from configuration, or generated once into
 * the data directory (mode 0600). `wx` makes the first writer win when two
 * processes start together; the loser reads what the winner wrote.
 */
export async function loadSecretKey(
  configured: string | undefined,
  dataDir: string,
): Promise<Buffer> {
  if (configured !== undefined) return Buffer.from(configured, 'base64');
  const file = join(dataDir, secretKeyFileName);
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(file, randomBytes(32).toString('base64'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold base64 of 32 bytes`);
  return key;
}
