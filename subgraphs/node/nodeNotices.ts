// Acts on central's notices on the job stream (lib/nodeNotices.ts), then acknowledges the ones
// central waits on. Acting comes first and is synchronous: once central has the acknowledgement,
// the node takes no write the notice forbids.
import type { Logger } from '../../lib/log.ts';
import { validateMembershipNotice, validatePlacementNotice } from '../../lib/nodeNotices.ts';
import type { CentralClient } from './centralClient.ts';
import type { HeldRooms } from './heldRooms.ts';
import type { MembershipCache } from './membership.ts';

export interface NoticeHandlerOptions {
  readonly held: HeldRooms;
  readonly membership: MembershipCache;
  readonly central: Pick<CentralClient, 'ackNotice'>;
  readonly log: Logger;
}

export function noticeHandler(
  options: NoticeHandlerOptions,
): (event: 'placement' | 'membership', data: string) => void {
  return (event, data) => {
    let fenceId: string | undefined;
    try {
      if (event === 'placement') {
        const notice = validatePlacementNotice(JSON.parse(data));
        options.held.apply(notice.rooms);
        fenceId = notice.fenceId;
      } else {
        const notice = validateMembershipNotice(JSON.parse(data));
        options.membership.forget(notice.roomId, notice.userId);
        fenceId = notice.fenceId;
      }
    } catch (error) {
      options.log.error(`ignoring a malformed ${event} notice from central: ${String(error)}`);
      return;
    }
    // Central sends the notice again until acknowledged: a lost acknowledgement is retried then.
    if (fenceId !== undefined)
      options.central
        .ackNotice(fenceId)
        .catch((error: unknown) =>
          options.log.warn(`acknowledging a ${event} notice failed: ${(error as Error).message}`),
        );
  };
}
