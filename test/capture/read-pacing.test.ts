import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ReadPacing } from '../../src/capture/read-pacing.ts';

/**
 * ReadPacing on a real Node stream (the replication socket is one): a pause after each small read, none
 * after a full one, and an outside hold that a pacing timer never undoes.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()`, failing after a second (pauses here last far less). */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 1000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(5);
  }
}

function reading(): { socket: PassThrough; received: () => number } {
  const socket = new PassThrough();
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
  return { socket, received: () => bytes };
}

describe('ReadPacing', () => {
  it('pauses the socket after a small read and reads on a moment later, losing nothing', async () => {
    const { socket, received } = reading();
    // Pauses long enough that a busy machine does not end them between two checks.
    const pacing = new ReadPacing(socket, 300);
    socket.write(Buffer.alloc(100));
    await sleep(0);
    expect(received()).toBe(100);
    expect(socket.isPaused()).toBe(true);
    socket.write(Buffer.alloc(50));
    await sleep(0);
    expect(received()).toBe(100);
    await until(() => received() === 150);
    pacing.stop();
  });

  it('reads on at once after a read that filled the buffer: more is waiting', async () => {
    const { socket, received } = reading();
    const pacing = new ReadPacing(socket, 5);
    socket.write(Buffer.alloc(64 * 1024));
    await sleep(0);
    expect(received()).toBe(64 * 1024);
    expect(socket.isPaused()).toBe(false);
    pacing.stop();
  });

  it('stays held when a pause after a read runs out during the hold, and reads on once released', async () => {
    const { socket, received } = reading();
    const pacing = new ReadPacing(socket, 20);
    socket.write(Buffer.alloc(10));
    await sleep(0);
    pacing.hold();
    socket.write(Buffer.alloc(10));
    await sleep(60);
    expect(socket.isPaused()).toBe(true);
    expect(received()).toBe(10);
    pacing.release();
    await sleep(0);
    expect(received()).toBe(20);
    pacing.stop();
  });

  it('a release during the pause after a read leaves the resume to that pause', async () => {
    const { socket, received } = reading();
    const pacing = new ReadPacing(socket, 300);
    socket.write(Buffer.alloc(10));
    await sleep(0);
    pacing.hold();
    pacing.release();
    socket.write(Buffer.alloc(10));
    await sleep(0);
    expect(received()).toBe(10);
    await until(() => received() === 20);
    pacing.stop();
  });

  it('once stopped, reads on at once and pauses no more', async () => {
    const { socket, received } = reading();
    const pacing = new ReadPacing(socket, 1000);
    socket.write(Buffer.alloc(10));
    await sleep(0);
    expect(socket.isPaused()).toBe(true);
    pacing.stop();
    socket.write(Buffer.alloc(10));
    await sleep(0);
    expect(received()).toBe(20);
    expect(socket.isPaused()).toBe(false);
  });
});
