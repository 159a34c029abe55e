import { describe, expect, it } from 'vitest';
import { RoutingNodesReplySchema } from '../../lib/gatewayProtocol.ts';
import { LivePeersSchema, SyncJobSchema } from '../../lib/syncProtocol.ts';
import { parseWire, WireShapeError } from '../../lib/wire.ts';

const job = {
  sessionId: 's1',
  syncType: 'FULL',
  sourceNodeId: 'n1',
  sourceUrl: 'http://127.0.0.1:1',
  roomIds: ['r1'],
  batchSize: 10,
  pullToken: 't',
  pullTokenExpiresAt: 1_700_000_000_000,
};

describe('wire shapes', () => {
  it('reads a sync job and drops fields it does not know', () => {
    expect(parseWire(SyncJobSchema, { ...job, extra: 1 }, 'job')).toEqual(job);
  });

  it.each([
    ['not an object', null, 'job: expected an object'],
    ['an array', [], 'job: expected an object'],
    [
      'an empty session id',
      { ...job, sessionId: '' },
      'job.sessionId: expected a non-empty string',
    ],
    [
      'a missing token',
      { ...job, pullToken: undefined },
      'job.pullToken: expected a non-empty string',
    ],
    ['an unknown type', { ...job, syncType: 'HALF' }, 'job.syncType: expected FULL or INCREMENTAL'],
    [
      'a URL of another scheme',
      { ...job, sourceUrl: 'ftp://x' },
      'job.sourceUrl: expected an http(s) URL',
    ],
    [
      'rooms that are not a list',
      { ...job, roomIds: 'r1' },
      'job.roomIds: expected an array of room ids',
    ],
    [
      'an empty room id',
      { ...job, roomIds: ['r1', ''] },
      'job.roomIds[1]: expected a non-empty string',
    ],
    [
      'a negative batch size',
      { ...job, batchSize: -1 },
      'job.batchSize: expected a non-negative integer',
    ],
    [
      'a fractional expiry',
      { ...job, pullTokenExpiresAt: 1.5 },
      'job.pullTokenExpiresAt: expected epoch milliseconds',
    ],
  ])('refuses a job with %s, naming the field', (_name, value, message) => {
    expect(() => parseWire(SyncJobSchema, value, 'job')).toThrow(new WireShapeError(message));
  });

  it('names the peer and the field of a malformed peers event', () => {
    const peer = {
      sourceNodeId: 'n1',
      sourceUrl: 'http://127.0.0.1:1',
      roomIds: ['r1'],
      pullToken: 't',
      pullTokenExpiresAt: 1,
    };
    expect(parseWire(LivePeersSchema, { peers: [peer] }).peers).toEqual([peer]);
    expect(() => parseWire(LivePeersSchema, {})).toThrow('peers: expected { "peers": [...] }');
    expect(() => parseWire(LivePeersSchema, { peers: [peer, { ...peer, roomIds: [] }] })).toThrow(
      'peers[1].roomIds: expected a non-empty array of room ids',
    );
  });

  it("checks central's routing reply instead of trusting it", () => {
    const node = { id: 'n1', name: 'a', url: 'http://x', status: 'ONLINE' };
    expect(parseWire(RoutingNodesReplySchema, { nodes: [node] }).nodes).toEqual([node]);
    expect(() =>
      parseWire(RoutingNodesReplySchema, { nodes: [{ ...node, status: 'GONE' }] }, 'nodes reply'),
    ).toThrow('nodes reply.nodes[0].status: expected ONLINE, OFFLINE or DEGRADED');
  });
});
