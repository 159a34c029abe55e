// A node's client of central with two centrals (`--central-url a,b`): each request goes to the
// central that last answered, on to the next after a refused connection, a reset or a 5xx (never
// after a 4xx); a sync report, which must not be applied twice, goes to the next central only when
// it never left; the job stream opens on whichever answers and closes when the node moves to
// another central. The "centrals" are real HTTP servers on port 0 with scripted answers, and a
// port nobody listens on.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SYNC_JOBS_PATH, SYNC_REPORT_PATH, type SyncReport } from '../../lib/syncProtocol.ts';
import {
  CentralRefusedError,
  CentralUnavailableError,
  createCentralClient,
} from '../../subgraphs/node/centralClient.ts';

type Script = (req: IncomingMessage, res: ServerResponse) => void;

interface StandIn {
  readonly url: string;
  readonly seen: string[];
  script: Script | undefined;
  readonly server: Server;
}

const answer =
  (status: number, body: unknown): Script =>
  (_req, res) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

const heartbeatOk = answer(200, { nodeId: 'n1', name: 'node-a', heartbeatIntervalMs: 1000 });

async function standIn(): Promise<StandIn> {
  const stand: StandIn = {
    url: '',
    seen: [],
    script: undefined,
    server: createServer((req, res) => {
      stand.seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.once('end', () => (stand.script ?? answer(500, {}))(req, res));
    }),
  };
  await new Promise<void>((resolve) => stand.server.listen(0, '127.0.0.1', resolve));
  const { port } = stand.server.address() as AddressInfo;
  return Object.assign(stand, { url: `http://127.0.0.1:${port}` });
}

let a: StandIn;
let b: StandIn;
let nobody: string;

beforeAll(async () => {
  [a, b] = await Promise.all([standIn(), standIn()]);
  // A port that was just free: connections to it are refused.
  const probe = await standIn();
  nobody = probe.url;
  await new Promise((resolve) => probe.server.close(resolve));
});

afterAll(async () => {
  for (const s of [a, b]) {
    s.server.closeAllConnections();
    await new Promise((resolve) => s.server.close(resolve));
  }
});

beforeEach(() => {
  a.seen.length = 0;
  b.seen.length = 0;
  a.script = undefined;
  b.script = undefined;
});

describe("a node's client of two centrals", () => {
  it('moves to the next central on a 5xx and stays there', async () => {
    const client = createCentralClient({ centralUrl: `${a.url},${b.url}`, apiKey: 'k' });
    a.script = answer(503, { errors: [{ message: 'database is down' }] });
    b.script = heartbeatOk;
    expect((await client.heartbeat('http://node')).nodeId).toBe('n1');
    expect([a.seen.length, b.seen.length]).toEqual([1, 1]);
    a.script = heartbeatOk;
    await client.heartbeat('http://node');
    // Sticky: b answered last, so b is asked, although a would answer again.
    expect([a.seen.length, b.seen.length]).toEqual([1, 2]);
    expect(client.centralUrl).toBe(b.url);
  });

  it('takes a 4xx as central answering: no other central is asked', async () => {
    const client = createCentralClient({ centralUrl: [a.url, b.url], apiKey: 'k' });
    a.script = answer(400, { errors: [{ message: 'roomId is not a valid id' }] });
    b.script = answer(200, { roomExists: true, member: true });
    await expect(client.membership('r', 'u')).rejects.toBeInstanceOf(CentralRefusedError);
    expect([a.seen.length, b.seen.length]).toEqual([1, 0]);
    expect(client.centralUrl).toBe(a.url);
  });

  it('sends a sync report to the next central only when it never left', async () => {
    const report: SyncReport = {
      sessionId: 's1',
      status: 'IN_PROGRESS',
      messagesSynced: 3,
      applied: [],
      cursor: 3,
    };
    b.script = answer(200, { continue: true });
    // Refused by the first: it never left, so the second takes it.
    const refused = createCentralClient({ centralUrl: [nobody, b.url], apiKey: 'k' });
    expect(await refused.reportSync(report)).toEqual({ continue: true });
    expect(b.seen).toEqual([`POST ${SYNC_REPORT_PATH}`]);

    // Cut off after the request arrived, or a 5xx: central may have recorded it. Not repeated;
    // the next request goes to the other central.
    b.seen.length = 0;
    for (const script of [
      ((_req, res) => res.socket?.destroy()) satisfies Script,
      answer(500, { errors: [{ message: 'deadlock detected' }] }),
    ]) {
      const client = createCentralClient({ centralUrl: [a.url, b.url], apiKey: 'k' });
      a.seen.length = 0;
      a.script = script;
      await expect(client.reportSync(report)).rejects.toBeInstanceOf(CentralUnavailableError);
      expect(a.seen).toEqual([`POST ${SYNC_REPORT_PATH}`]);
      expect(b.seen).toEqual([]);
      expect(client.centralUrl).toBe(b.url);
    }
  });

  it('opens the job stream on the central that answers, and closes it when the node moves on', async () => {
    const client = createCentralClient({ centralUrl: [nobody, b.url], apiKey: 'k' });
    b.script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
    };
    const stream = await client.openSyncJobs(new AbortController().signal);
    expect(b.seen).toEqual([`GET ${SYNC_JOBS_PATH}`]);
    const reader = stream.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('connected');
    // A request finds b failing: everyone moves, the stream too.
    client.central?.failed(b.url, 'timed out');
    await expect(reader.read()).rejects.toThrow();
  });
});
