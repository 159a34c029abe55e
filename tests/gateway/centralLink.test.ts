// The gateway's link to central, against real HTTP servers on port 0 that stand in for a central
// misbehaving in one way each: an event stream that goes silent (a hung central, a half-open
// connection) is noticed after `eventIdleMs` and reopened; malformed events are passed over and
// the stream goes on; a malformed reply fails the lookup as CENTRAL_UNAVAILABLE naming the field,
// and a second central that answers well is used instead.
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { createCentralLink, type GatewayEvent } from '../../gateway/centralLink.ts';
import { createLogger } from '../../lib/log.ts';

const open: ServerResponse[] = [];
const servers: Server[] = [];

async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function linkTo(centralUrl: string | string[], lines: string[], eventIdleMs?: number) {
  return createCentralLink({
    centralUrl,
    gatewaySecret: 'secret',
    ...(eventIdleMs === undefined ? {} : { eventIdleMs }),
    log: createLogger('test', { write: (line) => lines.push(line) }),
  });
}

afterAll(async () => {
  for (const res of open) res.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

const node = { id: 'n1', name: 'node-a', url: 'http://127.0.0.1:1', status: 'ONLINE' };

describe('central event stream', () => {
  it('reopens a stream that stays silent longer than eventIdleMs', async () => {
    let streams = 0;
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n'); // as central does
      open.push(res);
      // First connection: headers, then silence. Later ones: an event right away.
      if (++streams > 1)
        res.write(`data: ${JSON.stringify({ type: 'nodeChanged', nodeId: 'n1' })}\n\n`);
    });
    const warnings: string[] = [];
    const link = linkTo(url, warnings, 300);
    let connections = 0;
    const event = await new Promise<unknown>((resolve) => {
      const watch = link.watch(
        (e) => {
          watch.stop();
          resolve(e);
        },
        () => connections++,
      );
    });
    expect(event).toEqual({ type: 'nodeChanged', nodeId: 'n1' });
    expect(connections).toBe(2);
    expect(warnings.some((w) => w.includes('silent for 300 ms'))).toBe(true);
  });

  it('passes over malformed events and events it does not act on, and delivers the next one on the same stream', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      open.push(res);
      // Split mid-event, as a network may: the reader joins the pieces.
      res.write('data: {not json\n\ndata: {"type":"nodeStatusChanged","nodeId":"n1",');
      res.write(
        '"status":"GONE"}\n\n' +
          `data: ${JSON.stringify({ type: 'roomChanged' })}\n\n` +
          `data: ${JSON.stringify({ type: 'syncSessionUpdated', session: { id: 's1' } })}\n\n` +
          `data: ${JSON.stringify({ type: 'roomChanged', roomId: 'r1', extra: true })}\n\n`,
      );
    });
    const lines: string[] = [];
    const link = linkTo(url, lines);
    let connections = 0;
    const events: GatewayEvent[] = [];
    const watch = link.watch(
      (e) => events.push(e),
      () => connections++,
    );
    await expect.poll(() => events).toEqual([{ type: 'roomChanged', roomId: 'r1' }]);
    watch.stop();
    expect(connections).toBe(1);
    const ignored = lines.filter((l) => l.includes('ignored a malformed central event'));
    expect(ignored).toHaveLength(3);
    expect(ignored[0]).toContain('not JSON');
    expect(ignored[1]).toContain('event.status: expected ONLINE, OFFLINE or DEGRADED');
    expect(ignored[2]).toContain('event.roomId: expected a non-empty string');
    expect(lines.some((l) => l.includes('syncSessionUpdated'))).toBe(false);
  });
});

describe("central's replies", () => {
  const malformed = (): Promise<string> =>
    serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.startsWith('/internal/gateway/nodes'))
        res.end(JSON.stringify({ nodes: [node, { ...node, id: 'n2', status: 'GONE' }] }));
      else res.end('<html>a proxy page</html>');
    });

  it('refuses a malformed reply as CENTRAL_UNAVAILABLE naming the field, and logs it', async () => {
    const url = await malformed();
    const lines: string[] = [];
    const link = linkTo(url, lines);
    const error = await link.nodes().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GraphQLError);
    expect((error as GraphQLError).extensions['code']).toBe('CENTRAL_UNAVAILABLE');
    expect((error as GraphQLError).message).toBe(
      'central answered /internal/gateway/nodes malformed: nodes[1].status: expected ONLINE, OFFLINE or DEGRADED',
    );
    await expect(link.rooms(['r1'])).rejects.toThrow(
      /^central answered \/internal\/gateway\/rooms malformed: not JSON/,
    );
    expect(lines.filter((l) => l.includes(`central ${url} answered`))).toHaveLength(2);
  });

  it('takes the answer of the next central when one answers malformed', async () => {
    const bad = await malformed();
    const good = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ nodes: [node] }));
    });
    const link = linkTo([bad, good], []);
    expect(await link.nodes()).toEqual([node]);
    expect(link.state().centrals.find((c) => c.url === bad)?.failure).toContain('nodes[1].status');
  });
});
