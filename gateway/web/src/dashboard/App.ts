// The sync dashboard: admin login, then an alert for every node whose clock is beyond its bound,
// the nodes, how far behind each pair is, the replication charts (versions/s and lag per pair over
// the last 15 minutes), the last sync sessions and the versions nodes quarantined, kept live by
// graphql-ws, with the buttons that call triggerSync. Every error is shown next to what failed, as
// "message (CODE)". Plain createElement: the repository's tsconfig has no JSX, and the page is
// small.
import type { Client } from 'graphql-ws';
import {
  createElement as h,
  useCallback,
  useEffect,
  useRef,
  useState,
  type FormEvent,
  type ReactNode,
} from 'react';
import { ApiError, connectLive, describeError, request, subscribe, type LiveState } from './api.ts';
import {
  LOGIN,
  NODE_STATUS_CHANGED,
  NODES,
  PAIRS,
  QUARANTINE_LIMIT,
  QUARANTINED,
  REPLICATION_STATS,
  REPLICATION_WINDOW_MS,
  SESSION_FETCH,
  SESSION_LIMIT,
  SESSION_UPDATED,
  SESSIONS,
  TRIGGER_SYNC,
  type LoginResult,
  type NodesResult,
  type NodeStatusChangedEvent,
  type PairsResult,
  type QuarantinedResult,
  type QuarantinedVersion,
  type ReplicationStatsResult,
  type Session,
  type SessionsResult,
  type SessionUpdatedEvent,
  type SyncNode,
  type SyncPair,
  type SyncTrigger,
  type SyncType,
  type TriggerSyncResult,
  type Viewer,
} from './queries.ts';
import { ReplicationCharts } from './ReplicationChart.ts';
import {
  describeSkew,
  formatLag,
  mergeReplication,
  refetchSince,
  type ReplicationHistory,
} from './replication.ts';
import {
  type ActionState,
  countByTrigger,
  endSessions,
  formatTime,
  isFinished,
  mergeSessions,
  pairKey,
  progressOf,
  trackRunning,
  upsertNode,
} from './state.ts';

interface Auth {
  readonly token: string;
  readonly user: Viewer;
}

// Per tab: closing the tab logs out, and the token never sits in long-lived storage.
const AUTH_KEY = 'switchboard.dashboard.auth';

function loadAuth(): Auth | null {
  try {
    const stored = JSON.parse(sessionStorage.getItem(AUTH_KEY) ?? 'null') as Auth | null;
    return stored && typeof stored.token === 'string' ? stored : null;
  } catch {
    return null;
  }
}

export function App(): ReactNode {
  const [auth, setAuth] = useState<Auth | null>(loadAuth);
  const [notice, setNotice] = useState<string | undefined>();
  const onLogin = useCallback((next: Auth) => {
    sessionStorage.setItem(AUTH_KEY, JSON.stringify(next));
    setNotice(undefined);
    setAuth(next);
  }, []);
  const onLogout = useCallback((reason?: string) => {
    sessionStorage.removeItem(AUTH_KEY);
    setNotice(reason);
    setAuth(null);
  }, []);
  return auth
    ? h(Dashboard, { auth, onLogout })
    : h(Login, { onLogin, ...(notice ? { notice } : {}) });
}

function ErrorLine(props: { error: string | undefined; name: string }): ReactNode {
  if (!props.error) return null;
  return h('p', { className: 'error', role: 'alert', 'data-error-for': props.name }, props.error);
}

function Login(props: { onLogin: (auth: Auth) => void; notice?: string }): ReactNode {
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [pending, setPending] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setPending(true);
    setError(undefined);
    try {
      const { login } = await request<LoginResult>(LOGIN, { username, password });
      if (login.user.role !== 'ADMIN') {
        setError(`${login.user.username} is not an ADMIN: the dashboard needs one (FORBIDDEN)`);
        return;
      }
      props.onLogin({ token: login.token, user: login.user });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setPending(false);
    }
  };

  return h(
    'main',
    { className: 'login' },
    h('h1', null, 'Switchboard sync dashboard'),
    props.notice ? h('p', { className: 'notice' }, props.notice) : null,
    h(
      'form',
      { onSubmit: (e: FormEvent) => void submit(e), 'aria-label': 'Log in' },
      h(
        'label',
        null,
        'Username',
        h('input', {
          name: 'username',
          autoComplete: 'username',
          value: username,
          onChange: (e: { target: HTMLInputElement }) => setUsername(e.target.value),
        }),
      ),
      h(
        'label',
        null,
        'Password',
        h('input', {
          name: 'password',
          type: 'password',
          autoComplete: 'current-password',
          value: password,
          onChange: (e: { target: HTMLInputElement }) => setPassword(e.target.value),
        }),
      ),
      h('button', { type: 'submit', disabled: pending }, pending ? 'Logging in…' : 'Log in'),
      h(ErrorLine, { error, name: 'login' }),
    ),
  );
}

type TriggerFilter = SyncTrigger | 'ALL';
const TRIGGERS: readonly SyncTrigger[] = ['MANUAL', 'SCHEDULE', 'CHANGE'];

type Pairs =
  | { readonly kind: 'loading' }
  | { readonly kind: 'unavailable'; readonly reason: string }
  | { readonly kind: 'ready'; readonly pairs: readonly SyncPair[] };

/** Like Pairs: a gateway whose central predates quarantine records cannot list them. */
type Quarantine =
  | { readonly kind: 'loading' }
  | { readonly kind: 'unavailable'; readonly reason: string }
  | { readonly kind: 'ready'; readonly versions: readonly QuarantinedVersion[] };

type Section = 'nodes' | 'sessions' | 'pairs' | 'quarantine' | 'replication' | 'live';

/** How often the chart's newest buckets are read again when no session event asked for it. */
const REPLICATION_REFRESH_MS = 10_000;

function Dashboard(props: { auth: Auth; onLogout: (reason?: string) => void }): ReactNode {
  const { auth, onLogout } = props;
  const [nodes, setNodes] = useState<SyncNode[] | undefined>();
  const [sessions, setSessions] = useState<Session[]>([]);
  const [running, setRunning] = useState<ReadonlyMap<string, Session>>(() => new Map());
  const [filter, setFilter] = useState<TriggerFilter>('ALL');
  const [pairs, setPairs] = useState<Pairs>({ kind: 'loading' });
  const [quarantine, setQuarantine] = useState<Quarantine>({ kind: 'loading' });
  const [replication, setReplication] = useState<ReplicationHistory | undefined>();
  // The refetches read the newest answer's time without re-creating every callback per answer.
  const replicationRef = useRef<ReplicationHistory | undefined>(undefined);
  const [errors, setErrors] = useState<Partial<Record<Section, string>>>({});
  const [live, setLive] = useState<LiveState>('connecting');
  const [actions, setActions] = useState<Record<string, ActionState>>({});

  const setError = useCallback(
    (section: Section, error: string | undefined) =>
      setErrors((current) => ({ ...current, [section]: error })),
    [],
  );

  const run = useCallback(
    async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
      try {
        return await request<T>(query, variables, auth.token);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
          onLogout(`Logged out: ${describeError(error)}`);
        }
        throw error;
      }
    },
    [auth.token, onLogout],
  );

  const loadNodes = useCallback(async () => {
    try {
      const { nodes: list } = await run<NodesResult>(NODES);
      setNodes([...list].sort((a, b) => a.name.localeCompare(b.name)));
      setError('nodes', undefined);
    } catch (error) {
      setError('nodes', describeError(error));
    }
  }, [run, setError]);

  const loadSessions = useCallback(async () => {
    try {
      const { syncSessions } = await run<SessionsResult>(SESSIONS, { last: SESSION_FETCH });
      setSessions((current) => mergeSessions(current, syncSessions, SESSION_LIMIT));
      setRunning((current) => trackRunning(current, syncSessions));
      setActions((current) => endSessions(current, syncSessions));
      setError('sessions', undefined);
    } catch (error) {
      setError('sessions', describeError(error));
    }
  }, [run, setError]);

  const loadPairs = useCallback(async () => {
    try {
      const { syncPairs } = await run<PairsResult>(PAIRS);
      setPairs({ kind: 'ready', pairs: syncPairs });
      setError('pairs', undefined);
    } catch (error) {
      // A gateway whose central predates syncPairs refuses the query as invalid.
      if (error instanceof ApiError && error.code === 'GRAPHQL_VALIDATION_FAILED') {
        setPairs({ kind: 'unavailable', reason: describeError(error) });
      } else setError('pairs', describeError(error));
    }
  }, [run, setError]);

  const loadQuarantine = useCallback(async () => {
    try {
      const { quarantinedVersions } = await run<QuarantinedResult>(QUARANTINED, {
        first: QUARANTINE_LIMIT,
      });
      setQuarantine({ kind: 'ready', versions: quarantinedVersions });
      setError('quarantine', undefined);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'GRAPHQL_VALIDATION_FAILED') {
        setQuarantine({ kind: 'unavailable', reason: describeError(error) });
      } else setError('quarantine', describeError(error));
    }
  }, [run, setError]);

  // The whole window at first (and after a reconnection), then only its newest buckets.
  const replicationReadAt = useRef(0);
  const loadReplication = useCallback(
    async (whole: boolean) => {
      // After a long pause (a sleeping laptop) the newest buckets held are older than the window,
      // and a `since` that old would be refused: read the whole window again. Timed on the
      // browser's clock at both ends, so its offset from central's does not matter.
      const stale = Date.now() - replicationReadAt.current > REPLICATION_WINDOW_MS / 2;
      const known = whole || stale ? undefined : replicationRef.current;
      try {
        const { replicationStats } = await run<ReplicationStatsResult>(
          REPLICATION_STATS,
          known ? { since: refetchSince(known) } : {},
        );
        const next = mergeReplication(known, replicationStats, REPLICATION_WINDOW_MS);
        replicationReadAt.current = Date.now();
        replicationRef.current = next;
        setReplication(next);
        setError('replication', undefined);
      } catch (error) {
        setError('replication', describeError(error));
      }
    },
    [run, setError],
  );

  // Every report of a session or live window adds versions: read the newest buckets again, at
  // most every 2 s however many events come.
  const replicationTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const scheduleReplication = useCallback(() => {
    if (replicationTimer.current !== undefined) return;
    replicationTimer.current = setTimeout(() => {
      replicationTimer.current = undefined;
      void loadReplication(false);
    }, 2000);
  }, [loadReplication]);

  // Any report can quarantine versions (and every report changes its session): refetch the list
  // after session events, at most once a second.
  const quarantineTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const scheduleQuarantine = useCallback(() => {
    if (quarantineTimer.current !== undefined) return;
    quarantineTimer.current = setTimeout(() => {
      quarantineTimer.current = undefined;
      void loadQuarantine();
    }, 1000);
  }, [loadQuarantine]);

  // A finished session moves a pair's lag and a node's last sync, a node's status changes which
  // pairs can sync: refetch both, at most once a second however many events come together.
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const scheduleRefresh = useCallback(() => {
    if (refreshTimer.current !== undefined) return;
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = undefined;
      void loadPairs();
      void loadNodes();
    }, 1000);
  }, [loadNodes, loadPairs]);

  useEffect(() => {
    const loadAll = () => {
      void loadNodes();
      void loadSessions();
      void loadPairs();
      void loadQuarantine();
      void loadReplication(true);
    };
    loadAll();
    // The window slides (and idle pairs fall to 0/s) without events too.
    const replicationTick = setInterval(() => void loadReplication(false), REPLICATION_REFRESH_MS);
    let connections = 0;
    const client: Client = connectLive({
      token: auth.token,
      onState: setLive,
      // Events missed while the socket was down are in the current state: refetch it.
      onConnected: () => {
        if (connections++ > 0) loadAll();
      },
    });
    const liveError = (error: ApiError) => {
      if (error.code === 'UNAUTHENTICATED') onLogout(`Logged out: ${describeError(error)}`);
      else setError('live', describeError(error));
    };
    const stopNodes = subscribe<NodeStatusChangedEvent>(client, NODE_STATUS_CHANGED, {
      next: ({ nodeStatusChanged }) => {
        setNodes((list) => upsertNode(list, nodeStatusChanged));
        scheduleRefresh();
      },
      error: liveError,
    });
    const stopSessions = subscribe<SessionUpdatedEvent>(client, SESSION_UPDATED, {
      next: ({ syncSessionUpdated }) => {
        setSessions((list) => mergeSessions(list, [syncSessionUpdated], SESSION_LIMIT));
        setRunning((current) => trackRunning(current, [syncSessionUpdated]));
        setActions((current) => endSessions(current, [syncSessionUpdated]));
        if (isFinished(syncSessionUpdated)) scheduleRefresh();
        scheduleQuarantine();
        scheduleReplication();
      },
      error: liveError,
    });
    return () => {
      stopNodes();
      stopSessions();
      void client.dispose();
      clearTimeout(refreshTimer.current);
      refreshTimer.current = undefined;
      clearTimeout(quarantineTimer.current);
      quarantineTimer.current = undefined;
      clearInterval(replicationTick);
      clearTimeout(replicationTimer.current);
      replicationTimer.current = undefined;
    };
  }, [
    auth.token,
    loadNodes,
    loadPairs,
    loadQuarantine,
    loadReplication,
    loadSessions,
    onLogout,
    scheduleQuarantine,
    scheduleReplication,
    scheduleRefresh,
    setError,
  ]);

  const trigger = (key: string, syncType: SyncType, nodeId?: string) => async () => {
    setActions((current) => ({ ...current, [key]: { pending: true } }));
    try {
      const { triggerSync } = await run<TriggerSyncResult>(TRIGGER_SYNC, {
        syncType,
        ...(nodeId ? { nodeId } : {}),
      });
      setSessions((list) => mergeSessions(list, triggerSync, SESSION_LIMIT));
      setRunning((current) => trackRunning(current, triggerSync));
      const done =
        triggerSync.length === 0
          ? 'no session started: no two ONLINE nodes share a room'
          : `${triggerSync.length} session${triggerSync.length === 1 ? '' : 's'} requested`;
      // A session may have ended before the mutation answered: its event is already merged.
      const waiting = triggerSync.filter((s) => !isFinished(s)).map((s) => s.id);
      setActions((current) => ({
        ...current,
        [key]:
          triggerSync.length > 0 && waiting.length === 0
            ? { pending: false }
            : { pending: false, done, ...(triggerSync.length > 0 ? { waiting } : {}) },
      }));
    } catch (error) {
      setActions((current) => ({
        ...current,
        [key]: { pending: false, error: describeError(error) },
      }));
    }
  };

  const actionButton = (key: string, label: string, onClick: () => Promise<void>, name = label) => {
    const state = actions[key];
    return h(
      'span',
      { className: 'action', 'data-action': key },
      h(
        'button',
        {
          type: 'button',
          'aria-label': name,
          disabled: state?.pending,
          onClick: () => void onClick(),
        },
        label,
      ),
      state?.done && !state.pending
        ? h('span', { className: 'done', role: 'status' }, state.done)
        : null,
      h(ErrorLine, { error: state?.error, name: key }),
    );
  };

  return h(
    'main',
    { className: 'dashboard' },
    h(
      'header',
      null,
      h('h1', null, 'Switchboard sync'),
      h('span', { className: `live live-${live}`, 'data-live': live }, liveLabel(live)),
      h('span', { className: 'spacer' }),
      h('a', { href: 'graphql' }, 'GraphQL IDE'),
      h('span', { className: 'user' }, auth.user.username),
      h('button', { type: 'button', onClick: () => onLogout() }, 'Log out'),
    ),
    h(ErrorLine, { error: errors.live, name: 'live' }),
    h(ClockAlerts, { nodes: nodes ?? [] }),
    h(
      'section',
      { 'aria-labelledby': 'nodes-title' },
      h('h2', { id: 'nodes-title' }, 'Nodes'),
      h(
        'div',
        { className: 'toolbar' },
        actionButton('all-full', 'Full sync all nodes', trigger('all-full', 'FULL')),
        actionButton(
          'all-incremental',
          'Incremental sync',
          trigger('all-incremental', 'INCREMENTAL'),
        ),
      ),
      h(ErrorLine, { error: errors.nodes, name: 'nodes' }),
      nodes === undefined
        ? h('p', null, 'Loading…')
        : h(NodeTable, { nodes, actionButton, trigger }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'pairs-title' },
      h('h2', { id: 'pairs-title' }, 'How far behind each pair is'),
      h(ErrorLine, { error: errors.pairs, name: 'pairs' }),
      h(PairTable, { pairs, running }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'replication-title' },
      h('h2', { id: 'replication-title' }, 'Replication, last 15 minutes'),
      h(ErrorLine, { error: errors.replication, name: 'replication' }),
      h(ReplicationCharts, { history: replication }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'sessions-title' },
      h('h2', { id: 'sessions-title' }, `Last ${SESSION_LIMIT} sync sessions`),
      h(ErrorLine, { error: errors.sessions, name: 'sessions' }),
      h(TriggerFilterBar, { sessions, filter, setFilter }),
      h(SessionTable, {
        sessions:
          filter === 'ALL'
            ? sessions.slice(0, SESSION_LIMIT)
            : sessions.filter((s) => s.trigger === filter),
      }),
    ),
    h(
      'section',
      { 'aria-labelledby': 'quarantine-title' },
      h('h2', { id: 'quarantine-title' }, 'Quarantined versions'),
      h(ErrorLine, { error: errors.quarantine, name: 'quarantine' }),
      h(QuarantineTable, { quarantine }),
    ),
  );
}

/** One alert per node whose clock is beyond its bound; none when every clock is right. */
function ClockAlerts(props: { nodes: readonly SyncNode[] }): ReactNode {
  const skewed = props.nodes.filter((node) => node.clockSkewed);
  if (skewed.length === 0) return null;
  return h(
    'div',
    { className: 'alerts' },
    skewed.map((node) =>
      h(
        'p',
        { key: node.id, className: 'alert', role: 'alert', 'data-clock-alert': node.name },
        h('strong', null, 'Clock skew: '),
        describeSkew(node),
      ),
    ),
  );
}

/** The node's offset as the table shows it: how far its clock is from central's, which way. */
function clockLabel(node: SyncNode): string {
  if (node.clockOffsetMs === null) return '—';
  const way = node.clockOffsetMs < 0 ? 'ahead' : 'behind';
  return `${formatLag(Math.abs(node.clockOffsetMs))} ${way}`;
}

function liveLabel(state: LiveState): string {
  if (state === 'live') return '● live';
  if (state === 'connecting') return 'connecting…';
  return 'reconnecting…';
}

function NodeTable(props: {
  nodes: readonly SyncNode[];
  actionButton: (
    key: string,
    label: string,
    onClick: () => Promise<void>,
    name?: string,
  ) => ReactNode;
  trigger: (key: string, syncType: SyncType, nodeId?: string) => () => Promise<void>;
}): ReactNode {
  if (props.nodes.length === 0) return h('p', null, 'No node is registered yet.');
  return h(
    'table',
    { className: 'nodes' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ...['Node', 'Status', 'Clock', 'Last seen', 'Last sync', 'Auto sync', 'URL', ''].map((t) =>
          h('th', { key: t }, t),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      props.nodes.map((node) =>
        h(
          'tr',
          { key: node.id, 'data-node': node.name, 'data-status': node.status },
          h('td', null, node.name),
          h('td', null, h('span', { className: `badge status-${node.status}` }, node.status)),
          h(
            'td',
            {
              className: node.clockSkewed ? 'clock skewed' : 'clock',
              'data-clock-skewed': String(node.clockSkewed),
            },
            clockLabel(node),
          ),
          h('td', null, formatTime(node.lastSeenAt)),
          h('td', null, formatTime(node.lastSyncAt)),
          h('td', null, node.syncEnabled ? `every ${node.autoSyncInterval} s` : 'off'),
          h('td', { className: 'url' }, node.url),
          h(
            'td',
            null,
            props.actionButton(
              `node-${node.id}`,
              'Sync',
              props.trigger(`node-${node.id}`, 'FULL', node.id),
              `Sync ${node.name}`,
            ),
          ),
        ),
      ),
    ),
  );
}

function TriggerFilterBar(props: {
  sessions: readonly Session[];
  filter: TriggerFilter;
  setFilter: (filter: TriggerFilter) => void;
}): ReactNode {
  const counts = countByTrigger(props.sessions);
  const option = (value: TriggerFilter, label: string) =>
    h(
      'button',
      {
        key: value,
        type: 'button',
        className: props.filter === value ? 'filter selected' : 'filter',
        'aria-pressed': props.filter === value,
        'data-trigger-filter': value,
        onClick: () => props.setFilter(value),
      },
      label,
    );
  return h(
    'div',
    { className: 'toolbar', role: 'group', 'aria-label': 'Filter by trigger' },
    option('ALL', 'All'),
    ...TRIGGERS.map((t) => option(t, `${t.toLowerCase()} (${counts[t]})`)),
  );
}

function PairTable(props: { pairs: Pairs; running: ReadonlyMap<string, Session> }): ReactNode {
  const { pairs, running } = props;
  if (pairs.kind === 'loading') return h('p', null, 'Loading…');
  if (pairs.kind === 'unavailable') {
    return h('p', { className: 'notice' }, `Not available from this gateway: ${pairs.reason}`);
  }
  if (pairs.pairs.length === 0) return h('p', null, 'No two nodes share a room yet.');
  return h(
    'table',
    { className: 'pairs' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ...['Source → target', 'Behind', 'Digests', 'Last sync', 'Running'].map((t) =>
          h('th', { key: t }, t),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      pairs.pairs.map((pair) =>
        h(
          'tr',
          {
            key: `${pair.sourceNode.id}>${pair.targetNode.id}`,
            'data-pair': `${pair.sourceNode.name}>${pair.targetNode.name}`,
          },
          h('td', null, `${pair.sourceNode.name} → ${pair.targetNode.name}`),
          h(
            'td',
            { className: pair.behind > 0 ? 'behind' : 'caught-up' },
            pair.behind === 0
              ? 'caught up'
              : `${pair.behind} change${pair.behind === 1 ? '' : 's'}`,
          ),
          h('td', null, pair.digestsMatch === null ? '—' : pair.digestsMatch ? 'match' : 'differ'),
          h('td', null, formatTime(pair.lastSyncAt)),
          h(
            'td',
            { 'data-running': '' },
            runningLabel(
              running.get(pairKey(pair.sourceNode.id, pair.targetNode.id)) ?? pair.activeSession,
            ),
          ),
        ),
      ),
    ),
  );
}

function runningLabel(
  session: (Pick<Session, 'status'> & Partial<Pick<Session, 'syncType' | 'messagesSynced'>>) | null,
): string {
  if (!session) return '—';
  if (!session.syncType) return session.status;
  const progress =
    session.status === 'IN_PROGRESS' ? `, ${session.messagesSynced ?? 0} applied` : '';
  return `${session.syncType} ${session.status}${progress}`;
}

function QuarantineTable(props: { quarantine: Quarantine }): ReactNode {
  const { quarantine } = props;
  if (quarantine.kind === 'loading') return h('p', null, 'Loading…');
  if (quarantine.kind === 'unavailable') {
    return h('p', { className: 'notice' }, `Not available from this gateway: ${quarantine.reason}`);
  }
  if (quarantine.versions.length === 0)
    return h('p', null, 'No version is quarantined: every node applied what it received.');
  return h(
    'table',
    { className: 'quarantine' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ...['Source → target', 'Message', 'Reason', 'Quarantined'].map((t) =>
          h('th', { key: t }, t),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      quarantine.versions.map((version) =>
        h(
          'tr',
          { key: version.id, 'data-quarantined': version.messageId },
          h('td', null, `${version.sourceNode.name} → ${version.targetNode.name}`),
          h('td', { className: 'message-id' }, version.messageId),
          h('td', { className: 'reason' }, version.reason),
          h('td', null, formatTime(version.quarantinedAt)),
        ),
      ),
    ),
  );
}

function ProgressBar(props: { session: Session }): ReactNode {
  const { session } = props;
  const progress = progressOf(session);
  if (progress === null) {
    return h('span', { className: 'progress empty' }, h('span', { className: 'counts' }, '0 / 0'));
  }
  const checked =
    session.messagesTotal === null
      ? `${session.messagesChecked}`
      : `${session.messagesChecked} / ${session.messagesTotal}`;
  const counts = `${checked} checked, ${session.messagesSynced} applied`;
  return h(
    'span',
    { className: 'progress' },
    h('progress', {
      max: 1,
      ...(progress === undefined ? {} : { value: progress }),
      'aria-label': `${session.sourceNode.name} → ${session.targetNode.name} progress`,
    }),
    h('span', { className: 'counts' }, counts),
  );
}

function SessionTable(props: { sessions: readonly Session[] }): ReactNode {
  if (props.sessions.length === 0) return h('p', null, 'No sync session yet.');
  return h(
    'table',
    { className: 'sessions' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ...['Source → target', 'Type', 'Trigger', 'Status', 'Progress', 'Started', 'Finished'].map(
          (t) => h('th', { key: t }, t),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      props.sessions.map((session) =>
        h(
          'tr',
          { key: session.id, 'data-session': session.id, 'data-status': session.status },
          h('td', null, `${session.sourceNode.name} → ${session.targetNode.name}`),
          h('td', null, session.syncType),
          h('td', null, session.trigger),
          h(
            'td',
            null,
            h('span', { className: `badge status-${session.status}` }, session.status),
            session.error ? h('div', { className: 'error', role: 'alert' }, session.error) : null,
          ),
          h('td', null, h(ProgressBar, { session })),
          h('td', null, formatTime(session.startedAt)),
          h('td', null, formatTime(session.completedAt)),
        ),
      ),
    ),
  );
}
