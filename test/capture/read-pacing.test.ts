import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { onlyKeepalives, ReadPacing } from '../../src/capture/read-pacing.ts';

/**
 * ReadPacing on a real Node stream (the replication socket is one): a pause after each small read, none
 * after a full one or one of keepalives only, and an outside hold that a pacing timer never undoes.
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

/** A message of the replication stream as the walsender frames it: CopyData ('d', length) around it. */
function copyData(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = 0x64;
  header.writeInt32BE(4 + payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** A primary keepalive: 'k', the WAL end, the send time, whether a reply is asked for. */
const keepalive = () => copyData(Buffer.concat([Buffer.from('k'), Buffer.alloc(17)]));
/** An XLogData message ('w', start, end, time) carrying a pgoutput commit ('C'). */
const xlogData = () => copyData(Buffer.concat([Buffer.from('w'), Buffer.alloc(24), Buffer.from('C'), Buffer.alloc(25)]));

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

  it('reads on at once after keepalives only: other databases writing send hundreds a second', async () => {
    const { socket, received } = reading();
    const pacing = new ReadPacing(socket, 300);
    socket.write(Buffer.concat([keepalive(), keepalive()]));
    await sleep(0);
    expect(socket.isPaused()).toBe(false);
    // A change behind them is read at once, and what follows it waits for the pause as before.
    socket.write(Buffer.concat([keepalive(), xlogData()]));
    await sleep(0);
    expect(received()).toBe(3 * 23 + 56);
    expect(socket.isPaused()).toBe(true);
    pacing.stop();
  });

  it('tells whole keepalives from anything else in a read', () => {
    expect(onlyKeepalives(keepalive())).toBe(true);
    expect(onlyKeepalives(Buffer.concat([keepalive(), keepalive(), keepalive()]))).toBe(true);
    expect(onlyKeepalives(xlogData())).toBe(false);
    expect(onlyKeepalives(Buffer.concat([keepalive(), xlogData()]))).toBe(false);
    expect(onlyKeepalives(Buffer.concat([xlogData(), keepalive()]))).toBe(false);
    // A keepalive cut by the read's end: the rest of the message comes in the next read.
    expect(onlyKeepalives(keepalive().subarray(0, 12))).toBe(false);
    expect(onlyKeepalives(Buffer.concat([keepalive(), keepalive().subarray(0, 3)]))).toBe(false);
    // Bytes inside a message that look like a keepalive's header with another length (here -1, which
    // taken at its word would walk backwards for good) are not one.
    const lookalike = keepalive();
    lookalike.writeInt32BE(-1, 1);
    expect(onlyKeepalives(lookalike)).toBe(false);
    const longer = copyData(Buffer.concat([Buffer.from('k'), Buffer.alloc(40)]));
    expect(onlyKeepalives(longer)).toBe(false);
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
