// Argument checks for central's mutations. Each returns the normalized value or throws
// BAD_USER_INPUT naming the argument and the rule, before anything is written.
import { appError } from '../../lib/errors.ts';
import { UUID } from '../../lib/ids.ts';

function bad(message: string): never {
  throw appError('BAD_USER_INPUT', message);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const limits = {
  username: { min: 3, max: 32 },
  password: { min: 8, max: 256 },
  displayName: { max: 64 },
  roomName: { max: 100 },
  nodeName: { max: 63 },
  url: { max: 2048 },
  autoSyncInterval: { min: 10, max: 86_400 },
} as const;

export function username(raw: string): string {
  const value = raw.trim().toLowerCase();
  const { min, max } = limits.username;
  if (value.length < min || value.length > max) bad(`username must be ${min}-${max} characters`);
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(value))
    bad(
      'username may hold only letters, digits, ".", "_" and "-", and must start with a letter or digit',
    );
  return value;
}

export function password(raw: string): string {
  const { min, max } = limits.password;
  if (raw.length < min || raw.length > max) bad(`password must be ${min}-${max} characters`);
  return raw;
}

function label(raw: string, what: string, max: number): string {
  const value = raw.trim();
  if (value.length === 0) bad(`${what} must not be empty`);
  if (value.length > max) bad(`${what} must be at most ${max} characters`);
  if (CONTROL.test(value)) bad(`${what} must not contain control characters`);
  return value;
}

export const displayName = (raw: string) => label(raw, 'displayName', limits.displayName.max);
export const roomName = (raw: string) => label(raw, 'room name', limits.roomName.max);

export function nodeName(raw: string): string {
  const value = raw.trim();
  if (!/^[a-z0-9][a-z0-9-]*$/.test(value) || value.length > limits.nodeName.max)
    bad(
      `node name must be 1-${limits.nodeName.max} lowercase letters, digits or "-" (it names the node's database file)`,
    );
  return value;
}

export function nodeUrl(raw: string): string {
  if (raw.length > limits.url.max) bad(`url must be at most ${limits.url.max} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad(`url is not a valid URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') bad('url must be http or https');
  return raw.replace(/\/+$/, '');
}

export function autoSyncInterval(raw: number): number {
  const { min, max } = limits.autoSyncInterval;
  if (!Number.isInteger(raw) || raw < min || raw > max)
    bad(`autoSyncInterval must be ${min}-${max} seconds`);
  return raw;
}

export function id(raw: string, what = 'id'): string {
  if (!UUID.test(raw)) bad(`${what} is not a valid id: "${raw.slice(0, 64)}"`);
  return raw.toLowerCase();
}
