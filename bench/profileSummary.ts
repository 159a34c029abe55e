// Summarises a V8 CPU profile (`node --cpu-prof`): where the process spent its time, by function
// (self time) and by file or package, so a benchmark that misses its target can say what
// dominates. Profile the benchmark's child processes with
//   SWITCHBOARD_TEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-name={name}.cpuprofile"
// then `node --import tsx bench/profileSummary.ts /tmp/prof/<file>.cpuprofile [top]`.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
    readonly columnNumber?: number;
  };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** `node_modules/<package>` (scoped too), a project file, or a V8 / Node internal. */
function where(url: string): string {
  if (url === '') return '(native/V8)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url;
  const project = url.indexOf('/work/');
  return project >= 0 ? url.slice(url.indexOf('/', project + 6) + 1) : url;
}

/**
 * The profile with each frame of a file that has a linked source map (the processes' bundle,
 * dist/bundle/, scripts/bundle.ts) moved to where the map leads: our .ts file or the library's
 * own file in node_modules, so that the tables below name them rather than a chunk of the bundle.
 */
export function mapToSources(profile: Profile): Profile {
  const maps = new Map<string, { map: SourceMap; url: string } | undefined>();
  const mapOf = (url: string) => {
    if (!maps.has(url)) {
      let found: { map: SourceMap; url: string } | undefined;
      const file = url.startsWith('file://') ? fileURLToPath(url) : undefined;
      if (file !== undefined && existsSync(`${file}.map`)) {
        const payload = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<
          typeof SourceMap
        >[0];
        found = { map: new SourceMap(payload), url: `${url}.map` };
      }
      maps.set(url, found);
    }
    return maps.get(url);
  };
  const nodes = profile.nodes.map((node) => {
    const { url, lineNumber, columnNumber = 0 } = node.callFrame;
    const linked = url === '' ? undefined : mapOf(url);
    const entry = linked?.map.findEntry(lineNumber, columnNumber);
    if (!linked || !entry || !('originalSource' in entry)) return node;
    return {
      ...node,
      callFrame: {
        ...node.callFrame,
        url: new URL(entry.originalSource, linked.url).href,
        lineNumber: entry.originalLine,
        columnNumber: entry.originalColumn,
      },
    };
  });
  return { ...profile, nodes };
}

export interface Window {
  /** Seconds from the profile's start. */
  readonly from?: number;
  readonly to?: number;
}

export function summarise(bundled: Profile, top = 25, window: Window = {}): string {
  const profile = mapToSources(bundled);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    at += profile.timeDeltas[i] ?? 0;
    if (window.from !== undefined && at < window.from * 1e6) continue;
    if (window.to !== undefined && at > window.to * 1e6) continue;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const name = `${frame.functionName || '(anonymous)'} ${where(frame.url)}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const place = frame.url === '' ? frame.functionName || '(native)' : where(frame.url);
    byPlace.set(place, (byPlace.get(place) ?? 0) + us);
  }
  // Inclusive time of the project's own functions (outside node_modules and Node): which of our
  // code paths the time is spent under, whatever library does the work.
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || !frame.url.includes('/work/') || frame.url.includes('node_modules/')) continue;
      const name = `${frame.functionName || '(anonymous)'} ${where(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const table = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  const idle = [...self.entries()]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
    .reduce((sum, [, us]) => sum + us, 0);
  return [
    `sampled ${(total / 1e6).toFixed(1)} s, idle ${((idle / total) * 100).toFixed(1)}%`,
    'self time by function:',
    table(byFunction),
    'self time by file or package:',
    table(byPlace),
    'inclusive time of project functions:',
    table(inclusive),
  ].join('\n');
}

/** Busy (not idle) share of each `bucket` seconds: where the phases of a benchmark lie. */
export function timeline(profile: Profile, bucket = 5): string {
  const idleIds = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id),
  );
  const busy: number[] = [];
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const index = Math.floor(at / 1e6 / bucket);
    busy[index] = (busy[index] ?? 0) + (idleIds.has(profile.samples[i] as number) ? 0 : delta);
  }
  return Array.from(
    busy,
    (us, i) =>
      `${String(i * bucket).padStart(5)} s  ${(((us ?? 0) / (bucket * 1e6)) * 100).toFixed(0)}%`,
  ).join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top, from, to] = process.argv.slice(2).filter((a) => a !== '--timeline');
  if (!file)
    throw new Error(
      'usage: profileSummary.ts <file.cpuprofile> [top] [fromSec] [toSec] [--timeline]',
    );
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  if (process.argv.includes('--timeline')) process.stdout.write(`${timeline(profile)}\n`);
  else
    process.stdout.write(
      `${summarise(profile, top ? Number(top) : 25, {
        ...(from === undefined ? {} : { from: Number(from) }),
        ...(to === undefined ? {} : { to: Number(to) }),
      })}\n`,
    );
}
