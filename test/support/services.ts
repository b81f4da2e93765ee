/** Where the test services are; override with env vars when they live elsewhere. */
export const ADMIN_DATABASE_URL =
  process.env.PUSHCDC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_AMQP_URL = process.env.PUSHCDC_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** The URL of another database on the same server as the admin URL. */
export function databaseUrl(database: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}
