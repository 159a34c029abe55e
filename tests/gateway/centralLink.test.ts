// The gateway's event stream from central: a stream that goes silent (a hung central, a half-open
// connection) is noticed after `eventIdleMs` and reopened, so routing changes are not missed
// forever. The "central" here is a real HTTP server that answers the stream's headers once and
// then never writes again, and behaves on the second connection.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createCentralLink } from '../../gateway/centralLink.ts';
import { createLogger } from '../../lib/log.ts';

const open: ServerResponse[] = [];
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(': connected\n\n'); // as central does
  open.push(res);
  // First connection: headers, then silence. Later ones: an event right away.
  if (open.length > 1) res.write(`data: ${JSON.stringify({ type: 'NODE_CHANGED' })}\n\n`);
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('central event stream', () => {
  it('reopens a stream that stays silent longer than eventIdleMs', async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const warnings: string[] = [];
    const link = createCentralLink({
      centralUrl: `http://127.0.0.1:${port}`,
      gatewaySecret: 'secret',
      eventIdleMs: 300,
      log: createLogger('test', { write: (line) => warnings.push(line) }),
    });
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
    expect(event).toEqual({ type: 'NODE_CHANGED' });
    expect(connections).toBe(2);
    expect(warnings.some((w) => w.includes('silent for 300 ms'))).toBe(true);
  });
});
