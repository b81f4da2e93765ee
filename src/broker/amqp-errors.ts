import { PushcdcError, errorMessage } from '../errors.ts';

/** AMQP reply codes RabbitMQ closes a channel with that callers can do something about. */
const NOT_FOUND = 404;
const PRECONDITION_FAILED = 406;

/** The AMQP reply code amqplib puts on errors from a channel or connection close, if any. */
export function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The URL with its password masked, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch (err) {
    return `<unparseable URL: ${errorMessage(err)}>`;
  }
}

/** Turns an amqplib failure of an operation on `queue` into a PushcdcError that says what to do. */
export function queueError(err: unknown, queue: string, operation: string): PushcdcError {
  if (err instanceof PushcdcError) return err;
  const code = replyCode(err);
  if (code === PRECONDITION_FAILED) {
    return new PushcdcError(
      'BROKER',
      `queue "${queue}" already exists with different settings (${errorMessage(err)}); ` +
        'declare it the same way everywhere (singleActiveConsumer), or delete the queue so it can be created again',
      { cause: err },
    );
  }
  if (code === NOT_FOUND) {
    return new PushcdcError('BROKER', `queue "${queue}" does not exist (declare it with assertQueue first)`, { cause: err });
  }
  return new PushcdcError('BROKER', `RabbitMQ ${operation} on queue "${queue}" failed: ${errorMessage(err)}`, { cause: err });
}
