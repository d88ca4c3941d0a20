import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The admin URL of a PostgreSQL server for tests, or undefined when none is configured. */
export function testDatabaseUrl(): string | undefined {
  const url = process.env.FLOCK_TEST_DATABASE_URL?.trim();
  return url === undefined || url === '' ? undefined : url;
}

async function withAdmin(adminUrl: string, statement: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database of its own on the test server, so test runs that
 * share the server never see each other's tables; `drop` removes it even
 * while connections remain.
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = testDatabaseUrl();
  if (adminUrl === undefined) throw new Error('FLOCK_TEST_DATABASE_URL is not set');
  const name = `flock_test_${randomBytes(8).toString('hex')}`;
  await withAdmin(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop() {
      dropped ??= withAdmin(adminUrl, `drop database if exists ${name} with (force)`);
      return dropped;
    },
  };
}
