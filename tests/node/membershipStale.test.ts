// Central down is not chat down (issue 17): the node's membership cache, with the node's real
// client over HTTP, against a stand-in for central's membership endpoint that can be made to fail
// with a 503 (as an unreachable or failing central does) or to refuse the node's key.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CentralUnavailableError,
  createCentralClient,
} from '../../subgraphs/node/centralClient.ts';
import { MembershipCache } from '../../subgraphs/node/membership.ts';

describe('membership while central is unreachable', () => {
  let server: Server;
  let url: string;
  let state: 'up' | 'down' | 'removed' = 'up';
  let clock = 1_000_000;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      if (state === 'down') {
        res.writeHead(503).end('{}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ roomExists: true, member: state === 'up', private: false }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const cache = () =>
    new MembershipCache({
      client: createCentralClient({ centralUrl: url, apiKey: 'k' }),
      ttlMs: 5000,
      staleMs: 60_000,
      now: () => clock,
    });

  it('keeps a member central confirmed within the window, and nobody else', async () => {
    state = 'up';
    const members = cache();
    expect((await members.check('r', 'alice')).member).toBe(true);
    state = 'down';
    clock += 30_000;
    expect((await members.check('r', 'alice')).member).toBe(true);
    await expect(members.check('r', 'bob')).rejects.toBeInstanceOf(CentralUnavailableError);
    clock += 31_000;
    await expect(members.check('r', 'alice')).rejects.toBeInstanceOf(CentralUnavailableError);
  });

  it('forgets a member once central says they are not one any more', async () => {
    state = 'up';
    const members = cache();
    expect((await members.check('r', 'carol')).member).toBe(true);
    state = 'removed';
    clock += 6000;
    expect((await members.check('r', 'carol')).member).toBe(false);
    state = 'down';
    await expect(members.check('r', 'carol')).rejects.toBeInstanceOf(CentralUnavailableError);
  });
});
