// First start: make sure an `admin` user exists, so a new cluster can be administered at all.
import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { CentralDatabase } from './db/open.ts';
import { users } from './db/schema.ts';
import { hashPassword } from './passwords.ts';

export const ADMIN_USERNAME = 'admin';

/**
 * Creates the admin user if none exists yet. Returns the password when it was generated (so the
 * caller prints it once); undefined when it was given or the admin already existed.
 */
export async function ensureAdmin(
  db: CentralDatabase,
  password: string | undefined,
): Promise<string | undefined> {
  const existing = await db.query.users.findFirst({
    where: (u, { eq }) => eq(u.username, ADMIN_USERNAME),
  });
  if (existing) return undefined;
  const chosen = password ?? randomBytes(12).toString('base64url');
  const inserted = await db
    .insert(users)
    .values({
      id: uuidv7(),
      username: ADMIN_USERNAME,
      displayName: 'Administrator',
      role: 'ADMIN',
      passwordHash: await hashPassword(chosen),
    })
    .onConflictDoNothing()
    .returning();
  return inserted.length > 0 && password === undefined ? chosen : undefined;
}
