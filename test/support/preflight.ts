import amqp from 'amqplib';
import pg from 'pg';
import { ADMIN_DATABASE_URL, TEST_AMQP_URL } from './services.ts';
import { dropStaleTestDatabases } from './isolation.ts';

/**
 * Vitest global setup: tells what is missing and how to fix it before any test runs, instead of
 * letting a hundred tests time out. Also removes test databases (and their slots) that a killed run
 * left behind, so a leaked slot cannot pin WAL for long.
 */
export default async function preflight(): Promise<void> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  try {
    await client.connect();
    const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
    if (rows[0]?.wal_level !== 'logical') {
      problems.push(
        `PostgreSQL has wal_level=${rows[0]?.wal_level}; logical replication needs 'logical'. Run .ci/run, or: ` +
          `su postgres -c "psql -c 'ALTER SYSTEM SET wal_level = logical'" && pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart`,
      );
    }
    await dropStaleTestDatabases(client);
  } catch (err) {
    problems.push(`PostgreSQL at ${ADMIN_DATABASE_URL} is not reachable (${(err as Error).message}); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`);
  } finally {
    await client.end().catch(() => undefined);
  }
  try {
    const conn = await amqp.connect(TEST_AMQP_URL);
    await conn.close();
  } catch (err) {
    problems.push(`RabbitMQ at ${TEST_AMQP_URL} is not reachable (${(err as Error).message}); start it with: rabbitmq-server -detached && rabbitmqctl await_startup`);
  }
  if (problems.length > 0) throw new Error(`test preflight failed:\n- ${problems.join('\n- ')}`);
}
