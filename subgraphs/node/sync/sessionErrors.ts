// How a sync session ends early, shared by the session (pullSession.ts) and its report queue.

/** Why a session stopped early; its message is what central records as the session's error. */
export class SessionError extends Error {
  override readonly name = 'SessionError';
}

/** Stop without a FAILED report: the node is closing, or central no longer runs the session. */
export class SessionStopped extends Error {
  override readonly name = 'SessionStopped';
}

/** Central did not take a report after every attempt: the session is handed back (Session.handBack). */
export class ReportRefused extends SessionStopped {}
