// The gateway's link to central, against real HTTP servers on port 0 that stand in for a central
// misbehaving in one way each: an event stream that goes silent (a hung central, a half-open
// connection) is noticed after `eventIdleMs` and reopened; malformed events are passed over and
// the stream goes on; a malformed reply fails the lookup as CENTRAL_UNAVAILABLE naming the field,
// and a second central that answers well is used instead; while its own stream is down, its
// listeners hear whether some central still answers (a subscription's feed that reconnected).
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { createCentralLink, type GatewayEvent } from '../../gateway/centralLink.ts';
import { CentralEndpoints } from '../../lib/centralEndpoints.ts';
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

describe('link state', () => {
  // Central answered a subscription feed that reconnected while the link's own event stream has
  // not reopened yet: the link is down (no stream, /ready 503), but its listeners hear that some
  // central still answers, so a live feed is not told "central unavailable" (the gateway's
  // subscriptions act on it). Only once nothing answered for staleMs do they hear it is gone.
  it('tells its listeners whether a central still answers while its own stream is down', async () => {
    let refuse = false;
    let readyAsked = 0;
    const url = await serve((req, res) => {
      if (req.url === '/ready') {
        readyAsked += 1;
        res.writeHead(200).end();
        return;
      }
      if (refuse) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      open.push(res);
    });
    const endpoints = new CentralEndpoints([url], { maxBackoffMs: 200 });
    const link = createCentralLink({
      centralUrl: endpoints,
      gatewaySecret: 'secret',
      staleMs: 1500,
      probeMs: 200,
      log: createLogger('test', { write: () => {} }),
    });
    const heard: string[] = [];
    link.onStateChange((connected, answering) => heard.push(`${connected}/${answering}`));
    const watch = link.watch(
      () => {},
      () => {},
    );
    // The stream is silent, so the link probes /ready; the state it settles on after the first
    // probe is where it starts (no change to its listeners). A second probe means the first is
    // settled.
    await expect.poll(() => readyAsked).toBeGreaterThanOrEqual(2);
    expect(heard).toEqual([]);
    // The stream goes and cannot reopen; a subscription feed keeps getting answers in its place.
    refuse = true;
    for (const res of open.splice(0)) res.destroy();
    const feed = setInterval(() => endpoints.answered(url), 100);
    await expect.poll(() => heard, { timeout: 5000 }).toEqual(['false/true']);
    expect(link.state().connected).toBe(false);
    // The feed stops answering too: after staleMs, the listeners hear that no central answers.
    clearInterval(feed);
    await expect.poll(() => heard, { timeout: 5000 }).toEqual(['false/true', 'false/false']);
    // Back: the stream reopens and they hear it once.
    refuse = false;
    await expect
      .poll(() => heard, { timeout: 5000 })
      .toEqual(['false/true', 'false/false', 'true/true']);
    watch.stop();
    for (const res of open.splice(0)) res.destroy();
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
