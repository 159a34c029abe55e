// Keeps this gateway's public key registered at central: first before anything is sent to a
// node (nodes would refuse assertions signed by a key central does not serve), then renewed
// every minute, since central serves only keys renewed in the last 10 minutes.
import { Backoff } from '../lib/backoff.ts';
import { GATEWAY_KEY_RENEW_MS, type GatewaySigner } from '../lib/gatewayAssertion.ts';
import type { Logger } from '../lib/log.ts';
import type { CentralLink } from './centralLink.ts';

export interface KeyRegistrationOptions {
  readonly link: Pick<CentralLink, 'registerKey'>;
  readonly signer: GatewaySigner;
  readonly log: Logger;
  /** @default GATEWAY_KEY_RENEW_MS (one minute) */
  readonly renewMs?: number;
}

export interface KeyRegistration {
  /** Resolves true once central holds the key, false if stopped before. */
  readonly registered: Promise<boolean>;
  stop(): void;
}

export function startKeyRegistration(options: KeyRegistrationOptions): KeyRegistration {
  const renewMs = options.renewMs ?? GATEWAY_KEY_RENEW_MS;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: () => void = () => {};
  let failing = false;
  const attempt = async (): Promise<boolean> => {
    try {
      await options.link.registerKey(options.signer.publicJwk);
      if (failing) options.log.info(`signing key ${options.signer.kid} registered at central`);
      failing = false;
      return true;
    } catch (error) {
      // One line per outage, not one per attempt.
      if (!failing)
        options.log.warn(
          `registering signing key ${options.signer.kid}: ${(error as Error).message}; retrying`,
        );
      failing = true;
      return false;
    }
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref();
    });
  const registered = (async () => {
    const backoff = new Backoff({ initialMs: 250, maxMs: 5000 });
    while (!stopped) {
      if (await attempt()) return true;
      await pause(backoff.next());
    }
    return false;
  })();
  void registered.then(async (ok) => {
    while (ok && !stopped) {
      await pause(renewMs);
      if (!stopped) await attempt();
    }
  });
  return {
    registered,
    stop() {
      stopped = true;
      clearTimeout(timer);
      wake();
    },
  };
}
