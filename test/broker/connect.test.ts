import { describe, expect, it } from 'vitest';
import { connectBroker } from '../../src/broker/connect.ts';
import { EmbeddedBroker } from '../../src/broker/embedded.ts';
import { RabbitMqBroker } from '../../src/broker/rabbitmq.ts';
import { createPool } from '../../src/db/pool.ts';
import { PushcdcError } from '../../src/errors.ts';
import { createTestDatabase, useTestContext } from '../support/isolation.ts';
import { TEST_AMQP_URL } from '../support/services.ts';

const ctx = useTestContext('broker_connect', { sample: false });

async function failure(work: Promise<unknown>): Promise<PushcdcError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PushcdcError);
  expect((err as PushcdcError).code).toBe('BROKER');
  return err as PushcdcError;
}

describe('connectBroker', () => {
  it('gives RabbitMQ when AMQP_URL is set', async () => {
    const broker = await connectBroker({ amqpUrl: TEST_AMQP_URL, pool: ctx.pool });
    expect(broker).toBeInstanceOf(RabbitMqBroker);
    await broker.close();
  });

  it('gives the embedded broker when AMQP_URL is unset', async () => {
    const broker = await connectBroker({ amqpUrl: undefined, pool: ctx.pool });
    expect(broker).toBeInstanceOf(EmbeddedBroker);
    await broker.close();
  });

  it('names the RabbitMQ URL it could not reach, with the password masked', async () => {
    const err = await failure(connectBroker({ amqpUrl: 'amqp://guest:s3cret@127.0.0.1:1', pool: ctx.pool }));
    expect(err.message).toContain('amqp://guest:***@127.0.0.1:1');
    expect(err.message).not.toContain('s3cret');
  });

  it('says to apply the migrations when the embedded broker tables are missing', async () => {
    const db = await createTestDatabase('broker_nomig');
    const pool = createPool(db.url, { max: 2 });
    try {
      const err = await failure(connectBroker({ amqpUrl: undefined, pool }));
      expect(err.message).toContain('migrat');
    } finally {
      await pool.end();
      await db.drop();
    }
  });
});
