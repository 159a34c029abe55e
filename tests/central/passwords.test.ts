// Password hashes and their cost: a deployment (or a test suite) may choose the scrypt cost of new
// hashes; every hash keeps its own parameters, so hashes of another cost keep verifying.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config.ts';
import { centralOptions } from '../../subgraphs/central/index.ts';
import {
  DEFAULT_PASSWORD_HASH_COST,
  dummyPasswordHash,
  hashPassword,
  setPasswordHashCost,
  verifyPassword,
} from '../../subgraphs/central/passwords.ts';

// The suite's own cost (tests/setup/global.ts): restored after each test, whatever it set.
const suiteCost = Number(
  process.env['SWITCHBOARD_PASSWORD_HASH_COST'] ?? DEFAULT_PASSWORD_HASH_COST,
);
afterEach(() => setPasswordHashCost(suiteCost));

describe('password hashes', () => {
  it('are made at the cost set, and hashes of another cost still verify', async () => {
    setPasswordHashCost(10);
    const cheap = await hashPassword('correct horse');
    expect(cheap.split('$').slice(0, 4)).toEqual(['scrypt', '1024', '8', '1']);
    setPasswordHashCost(12);
    const dearer = await hashPassword('correct horse');
    expect(dearer.split('$')[1]).toBe('4096');
    expect(await verifyPassword('correct horse', cheap)).toBe(true);
    expect(await verifyPassword('correct horse', dearer)).toBe(true);
    expect(await verifyPassword('wrong horse', cheap)).toBe(false);
    // The stand-in for unknown users costs what a real user's hash costs now.
    expect((await dummyPasswordHash()).split('$')[1]).toBe('4096');
  });

  it('cost stays within 10-20, as a flag and in code', () => {
    expect(() => setPasswordHashCost(9)).toThrow(RangeError);
    expect(() => setPasswordHashCost(21)).toThrow(RangeError);
    const parse = (raw: string) =>
      parseConfig(centralOptions, ['--password-hash-cost', raw], {}).passwordHashCost;
    expect(parse('12')).toBe(12);
    expect(() => parse('9')).toThrow(ConfigError);
    expect(() => parse('21')).toThrow(ConfigError);
    expect(() => parse('x')).toThrow(/must be an integer 10-20/);
    expect(parseConfig(centralOptions, [], {}).passwordHashCost).toBe(15);
  });
});
