// Central's tags on the nodes' membership refreshes on their own (sync/roomMembersTags.ts), on the
// in-process event bus central uses without PostgreSQL and a clock of the test's: a tag matches
// the central that issued it, for the same rooms, until an event that may change the answer or
// its maximum age, whichever comes first.
import { describe, expect, it } from 'vitest';
import { createLocalEventBus } from '../../subgraphs/central/events.ts';
import { MEMBERSHIP_WRITE_SLACK_MS } from '../../subgraphs/central/membership.ts';
import {
  MEMBERSHIP_EVENT_SLACK_MS,
  RoomMembersTags,
} from '../../subgraphs/central/sync/roomMembersTags.ts';

const MAX_AGE = 60_000;

function setup() {
  const events = createLocalEventBus();
  let now = 1_000_000;
  const tags = new RoomMembersTags(events, { maxAgeMs: MAX_AGE, now: () => now });
  return { events, tags, advance: (ms: number) => (now += ms), now: () => now };
}

describe('room members tags', () => {
  it('match for the same rooms in any order, until the maximum age', () => {
    const { tags, advance } = setup();
    const tag = tags.begin(['a', 'b']);
    expect(tags.matches(tag, ['b', 'a', 'a'])).toBe(true);
    expect(tags.matches(tag, ['a'])).toBe(false);
    expect(tags.matches(tag, ['a', 'b', 'c'])).toBe(false);
    advance(MAX_AGE);
    expect(tags.matches(tag, ['a', 'b'])).toBe(true);
    advance(1);
    expect(tags.matches(tag, ['a', 'b'])).toBe(false);
  });

  it("do not match after an event that may change an answer, nor another central's", async () => {
    const { events, tags } = setup();
    const other = new RoomMembersTags(events);
    const tag = tags.begin(['a']);
    expect(other.matches(tag, ['a'])).toBe(false);
    expect(tags.matches('', ['a'])).toBe(false);
    expect(tags.matches(`${tag}.1`, ['a'])).toBe(false);
    // Sessions and acknowledgements change no membership, room or node.
    await events.publish({ type: 'noticeAcked', nodeId: 'n', fenceId: 'f' });
    expect(tags.matches(tag, ['a'])).toBe(true);
    for (const event of [
      { type: 'roomChanged', roomId: 'elsewhere' },
      { type: 'nodeChanged', nodeId: 'n' },
      { type: 'nodeStatusChanged', nodeId: 'n', status: 'OFFLINE' },
      { type: 'nodeNotice', nodeIds: ['n'], fenceId: 'f', notice: { kind: 'placement' } },
    ] as const) {
      const before = tags.begin(['a']);
      await events.publish(event);
      expect(tags.matches(before, ['a'])).toBe(false);
      expect(tags.matches(tags.begin(['a']), ['a'])).toBe(true);
    }
    other.close();
    tags.close();
  });

  it('vouch for an unchanged answer up to what the events heard vouch for', () => {
    const { tags, now } = setup();
    expect(tags.unchangedAsOf()).toBe(
      now() - MEMBERSHIP_WRITE_SLACK_MS - MEMBERSHIP_EVENT_SLACK_MS,
    );
  });
});
