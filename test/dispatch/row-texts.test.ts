import { describe, expect, it } from 'vitest';
import { filterTrackedChanges } from '../../src/dispatch/field-tracking.ts';
import { parseQueueMessage, readQueueMessage, serializeEnvelope, serializeNotification } from '../../src/notification.ts';

/**
 * Rows keep their JSON text from the queue message to every text written from it (SPEC section 5:
 * values as PostgreSQL rendered them), while the parsed rows stay what they were.
 */
const ID = '0b1c5c7e-1111-4222-8333-444455556666';
// As PostgreSQL writes them: numeric with its scale, tiny and huge numbers, a json column as stored.
const before1 = String.raw`{"CustomerID":"C1","Amount":7.000000,"Tiny":0.0000001,"Big":1000000000000000000000,"Doc":{"a": [1.50, {"b": "x\"y]}"}], "e": 1E+2},"Note":"snow ☃ \u00e9 😀 \\"}`;
const after1 = String.raw`{"CustomerID":"C1","Amount":7.500000,"Tiny":0.0000001,"Big":1000000000000000000000,"Doc":{"a": [1.50, {"b": "x\"y]}"}], "e": 1E+2},"Note":"snow ☃ \u00e9 😀 \\"}`;
const before2 = String.raw`{"CustomerID":"C2","Amount":2.000000,"Tiny":-0.0000010,"Big":-1E+21,"Doc":[],"Note":"old"}`;
const after2 = String.raw`{"CustomerID":"C2","Amount":2.000000,"Tiny":-0.0000010,"Big":-1E+21,"Doc":[],"Note":"new"}`;
const TAIL = `"Query":"T-Amounts","CompanyId":"Company","Id":"${ID}","TimeStamp":638465233453014192,"AdditionalInfo":{"Part":1,"Parts":2}}`;
const message = `{"notification":{"Inserted":[${after1},${after2}],"Deleted":[${before1},${before2}],${TAIL},"timeStamp":"638465233453014192","keys":{"Inserted":[["C1"],["C2"]],"Deleted":[["C1"],["C2"]]},"lsn":"0/16B3748"}`;

describe('queue messages keep their rows as JSON text', () => {
  it('the texts really would change if parsed and written again', () => {
    for (const row of [before1, after1, before2]) expect(JSON.stringify(JSON.parse(row))).not.toBe(row);
  });

  it('readQueueMessage gives the parsed envelope and each row text; written out again, the envelope is the same text', () => {
    const read = readQueueMessage(message);
    expect(read.rowTexts).toEqual({ Inserted: [after1, after2], Deleted: [before1, before2] });
    const { rowTexts, ...parsed } = read;
    expect(parsed).toEqual(parseQueueMessage(message));
    expect(read.notification.Deleted[0]).toMatchObject({ Amount: 7, Tiny: 1e-7, Big: 1e21 });
    expect(read.notification.TimeStamp).toBe(638465233453014192n);
    expect(serializeEnvelope(read)).toBe(message);
    expect(serializeNotification(read.notification, rowTexts)).toBe(`{"Inserted":[${after1},${after2}],"Deleted":[${before1},${before2}],${TAIL}`);
  });

  it('without row texts, rows are written from the parsed values as before', () => {
    const { notification } = parseQueueMessage(message);
    expect(serializeNotification(notification)).toBe(
      `{"Inserted":${JSON.stringify(notification.Inserted)},"Deleted":${JSON.stringify(notification.Deleted)},${TAIL}`,
    );
  });

  it('field tracking drops a pair together with its texts', () => {
    const kept = filterTrackedChanges(readQueueMessage(message), ['Amount']);
    expect(kept.keys).toEqual({ Inserted: [['C1']], Deleted: [['C1']] });
    expect(kept.rowTexts).toEqual({ Inserted: [after1], Deleted: [before1] });
    expect(serializeNotification(kept.notification, kept.rowTexts)).toBe(`{"Inserted":[${after1}],"Deleted":[${before1}],${TAIL}`);
    expect(serializeEnvelope(kept)).toBe(
      `{"notification":{"Inserted":[${after1}],"Deleted":[${before1}],${TAIL},"timeStamp":"638465233453014192","keys":{"Inserted":[["C1"]],"Deleted":[["C1"]]},"lsn":"0/16B3748"}`,
    );
  });

  it('reads a bare payload laid out otherwise; its TimeStamp is its own, not a row column of that name', () => {
    const row = String.raw`{ "TimeStamp" : 1 , "Amount" : 0.10 }`;
    const bare = ` {\n "Inserted" : [ ${row} ] ,\n "Deleted" : [ ] , "Query" : "T-Amounts", "CompanyId" : "Company", "Id" : "${ID}",\n "TimeStamp" : 638465233453014192 }\n`;
    for (const read of [readQueueMessage(bare), parseQueueMessage(bare)]) expect(read.notification.TimeStamp).toBe(638465233453014192n);
    const read = readQueueMessage(bare);
    expect(read.rowTexts).toEqual({ Inserted: [row], Deleted: [] });
    expect(serializeNotification(read.notification, read.rowTexts)).toBe(
      `{"Inserted":[${row}],"Deleted":[],"Query":"T-Amounts","CompanyId":"Company","Id":"${ID}","TimeStamp":638465233453014192,"AdditionalInfo":{}}`,
    );
  });

  it('an envelope without timeStamp takes the payload TimeStamp; a message without ticks has 0', () => {
    const noTimeStamp = message.replace(',"timeStamp":"638465233453014192"', '');
    expect(readQueueMessage(noTimeStamp).notification.TimeStamp).toBe(638465233453014192n);
    expect(parseQueueMessage(noTimeStamp).notification.TimeStamp).toBe(638465233453014192n);
    expect(parseQueueMessage('{"Inserted":[{"TimeStamp":5}],"Deleted":[],"Query":"Q"}').notification.TimeStamp).toBe(0n);
  });

  it('an empty notification has no row texts', () => {
    const empty = `{"notification":{"Inserted":[],"Deleted":[],${TAIL},"keys":{"Inserted":[],"Deleted":[]},"lsn":"0/1"}`;
    expect(readQueueMessage(empty).rowTexts).toEqual({ Inserted: [], Deleted: [] });
  });
});
