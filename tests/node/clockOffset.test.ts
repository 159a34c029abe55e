// The clock offset estimate (NTP-style, on heartbeat round trips): the sample with the shortest
// round trip of the last few wins, its error bound is half that trip, and a wall clock stepped
// between samples shows at once. Pure: both clocks are injected.
import { describe, expect, it } from 'vitest';
import { ClockOffset, requireSaneClock } from '../../subgraphs/node/clockOffset.ts';
import { codeOf } from '../../lib/errors.ts';

function clocks(wallStart: number) {
  const c = { mono: 1000, wall: wallStart };
  return {
    c,
    offset: new ClockOffset({ now: () => c.wall, monotonic: () => c.mono, maxDriftMs: 60_000 }),
    /** Advances both clocks. */
    pass: (ms: number) => {
      c.mono += ms;
      c.wall += ms;
    },
  };
}

describe('ClockOffset', () => {
  it('is not within the bound before the first sample, and says so', () => {
    const { offset } = clocks(1_000_000);
    expect(offset.state()).toMatchObject({ offsetMs: undefined, withinBound: false });
    expect(offset.state().reason).toMatch(/not been measured/);
    expect(offset.centralNow()).toBe(1_000_000);
  });

  it('takes central minus the middle of the trip, error rtt/2, from the shortest trip of the last ones', () => {
    // The node's wall clock runs 5000 ms behind central's.
    const { c, offset, pass } = clocks(1_000_000);
    const central = () => c.wall + 5000;
    // A slow trip: central answered early in it (queueing on the way back), so it misleads.
    let sent = offset.mark();
    pass(10);
    const early = central();
    pass(390);
    offset.record(sent, offset.mark(), early);
    expect(offset.state()).toMatchObject({ offsetMs: 5000 - 190, errorMs: 200, withinBound: true });
    // A fast trip, central read at its middle: it wins.
    sent = offset.mark();
    pass(5);
    const middle = central();
    pass(5);
    offset.record(sent, offset.mark(), middle);
    expect(offset.state()).toMatchObject({ offsetMs: 5000, errorMs: 5 });
    pass(1000);
    expect(offset.centralNow()).toBe(central());
  });

  it('sees a wall clock step at once, and refuses writes beyond the bound either way', () => {
    const { c, offset } = clocks(1_000_000);
    const sent = offset.mark();
    offset.record(sent, offset.mark(), c.wall);
    expect(offset.state().withinBound).toBe(true);
    c.wall += 164_000;
    expect(offset.state()).toMatchObject({ offsetMs: -164_000, withinBound: false });
    expect(offset.state().reason).toMatch(/164000 ms ahead of central's/);
    let refused: unknown;
    try {
      requireSaneClock(offset, 0);
    } catch (error) {
      refused = error;
    }
    expect(codeOf(refused)).toBe('CLOCK_SKEW');
    c.wall -= 164_000 + 61_000;
    expect(offset.state().reason).toMatch(/61000 ms behind central's/);
    c.wall += 61_000;
    expect(() => requireSaneClock(offset, c.wall + 60_000)).not.toThrow();
    expect(() => requireSaneClock(offset, c.wall + 60_001)).toThrow(/HLC is 60001 ms ahead/);
  });

  it('keeps the last 8 samples only', () => {
    const { c, offset, pass } = clocks(1_000_000);
    // An old, very short trip that read central 1000 ms ahead.
    let sent = offset.mark();
    offset.record(sent, offset.mark(), c.wall + 1000);
    expect(offset.state().offsetMs).toBe(1000);
    for (let i = 0; i < 8; i++) {
      sent = offset.mark();
      pass(20);
      offset.record(sent, offset.mark(), c.wall - 10);
    }
    expect(offset.state()).toMatchObject({ offsetMs: 0, errorMs: 10 });
  });
});
