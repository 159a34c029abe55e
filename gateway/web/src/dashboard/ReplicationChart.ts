// The two replication charts (uPlot, bundled into the page like React): versions applied per
// second and lag p50/p99, one colour per ordered pair. Each figure carries what it draws as data
// attributes (series, points), which the browser tests read instead of pixels.
import { createElement as h, useEffect, useMemo, useRef, type ReactNode } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { REPLICATION_WINDOW_MS } from './queries.ts';
import {
  chartData,
  formatLag,
  pairLabel,
  type ChartData,
  type ReplicationHistory,
} from './replication.ts';

const COLOURS = ['#2457c5', '#c4271b', '#1a7f37', '#9a6700', '#8250df', '#0f7b8a', '#bc4c00'];
const HEIGHT = 220;

function colour(index: number): string {
  return COLOURS[index % COLOURS.length] ?? '#000';
}

interface ChartSpec {
  readonly name: string;
  readonly title: string;
  readonly series: uPlot.Series[];
  /** The series' labels: a chart is made again when they change. */
  readonly labels: readonly string[];
  readonly data: uPlot.AlignedData;
  readonly points: number;
  /** Versions over the window (the throughput chart only). */
  readonly versions?: number;
  readonly unit: (value: number) => string;
}

function specs(data: ChartData): ChartSpec[] {
  const throughput: ChartSpec = {
    name: 'throughput',
    title: 'Versions applied per second',
    series: data.pairs.map((pair, i) => ({
      label: pairLabel(pair),
      stroke: colour(i),
      width: 2,
      value: (_u, v) => (v === null ? '—' : `${v.toFixed(1)}/s`),
    })),
    labels: data.pairs.map((pair) => pairLabel(pair)),
    data: [data.x, ...data.versionsPerSecond],
    points: data.points,
    versions: data.versions,
    unit: (v) => `${v}/s`,
  };
  const lag: ChartSpec = {
    name: 'lag',
    title: 'Replication lag of new messages (p50 solid, p99 dashed)',
    series: data.pairs.flatMap((pair, i) => [
      {
        label: `${pairLabel(pair)} p50`,
        stroke: colour(i),
        width: 2,
        spanGaps: false,
        // A lone measured bucket between gaps draws no line: its point must show.
        points: { show: true, size: 5 },
        value: (_u: uPlot, v: number | null) => formatLag(v),
      },
      {
        label: `${pairLabel(pair)} p99`,
        stroke: colour(i),
        width: 1,
        dash: [6, 4],
        spanGaps: false,
        points: { show: true, size: 4 },
        value: (_u: uPlot, v: number | null) => formatLag(v),
      },
    ]),
    labels: data.pairs.flatMap((pair) => [`${pairLabel(pair)} p50`, `${pairLabel(pair)} p99`]),
    data: [
      data.x,
      ...data.pairs.flatMap((_p, i) => [data.lagP50Ms[i] ?? [], data.lagP99Ms[i] ?? []]),
    ],
    points: data.lagPoints,
    unit: (v) => formatLag(v),
  };
  return [throughput, lag];
}

function Chart(props: { spec: ChartSpec }): ReactNode {
  const { spec } = props;
  const target = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  // A new pair means new series: uPlot takes its series at creation, so the chart is made again.
  const shape = spec.labels.join('|');

  useEffect(() => {
    const element = target.current;
    if (!element) return;
    const made = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: HEIGHT,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [{}, ...spec.series],
        axes: [{}, { values: (_u, values) => values.map((v) => spec.unit(v)), size: 70 }],
      },
      spec.data,
      element,
    );
    plot.current = made;
    const resize = () =>
      made.setSize({ width: Math.max(320, element.clientWidth), height: HEIGHT });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      made.destroy();
      plot.current = undefined;
    };
    // The data goes in through setData below; only a change of series rebuilds the chart.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(spec.data);
  }, [spec.data]);

  return h(
    'figure',
    {
      className: 'chart',
      'data-chart': spec.name,
      'data-series': spec.series.length,
      'data-points': spec.points,
      ...(spec.versions === undefined ? {} : { 'data-versions': spec.versions }),
    },
    h('figcaption', null, spec.title),
    h('div', { ref: target, className: 'chart-canvas' }),
  );
}

export function ReplicationCharts(props: { history: ReplicationHistory | undefined }): ReactNode {
  const { history } = props;
  const data = useMemo(
    () => (history ? chartData(history, REPLICATION_WINDOW_MS) : undefined),
    [history],
  );
  const charts = useMemo(() => (data ? specs(data) : []), [data]);
  if (!history || !data) return h('p', null, 'Loading…');
  if (data.pairs.length === 0)
    return h('p', { 'data-chart-empty': '' }, 'No version was replicated in the last 15 minutes.');
  return h(
    'div',
    { className: 'charts' },
    charts.map((spec) => h(Chart, { key: spec.name, spec })),
  );
}
