import { asc, eq } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../../lib/errors.ts';
import { requireAdmin, requireViewer } from '../context.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { users } from '../db/schema.ts';
import {
  dummyPasswordHash,
  hashPassword,
  passwordHashSlots,
  verifyPassword,
} from '../passwords.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import * as valid from '../validation.ts';

/** Logins waiting for a hashing slot beyond which new ones are refused (about 4 s of work at 2 at a time). */
const MAX_WAITING_HASHES = 64;

export const userResolvers: Resolvers = {
  Query: {
    me: (_parent, _args, ctx) => (ctx.viewer ? ctx.loaders.user.load(ctx.viewer.id) : null),
    user: (_parent, args, ctx) => {
      requireViewer(ctx);
      return ctx.loaders.user.load(valid.id(args.id));
    },
    users: (_parent, _args, ctx) => {
      requireViewer(ctx);
      return ctx.db.select().from(users).orderBy(asc(users.username));
    },
  },
  Mutation: {
    login: async (_parent, args, ctx) => {
      // Oversized input is refused before any hashing work is spent on it.
      if (args.username.length > 256 || args.password.length > valid.limits.password.max) {
        throw appError('BAD_USER_INPUT', 'username or password is too long');
      }
      const username = args.username.trim().toLowerCase();
      // A full queue of hashes already means seconds of waiting: refuse at once, before any
      // database work, rather than hold more requests open.
      if (passwordHashSlots.waiting >= MAX_WAITING_HASHES) {
        throw appError('RATE_LIMITED', 'too many logins in progress: try again in 1 s', {
          extensions: { retryAfterSeconds: 1 },
        });
      }
      // Before any hashing: a throttled brute force costs the server one short transaction.
      const attempt = await ctx.loginThrottle.reserve(username, ctx.clientAddress);
      const [row] = await ctx.db.select().from(users).where(eq(users.username, username));
      const ok = await verifyPassword(
        args.password,
        row?.passwordHash ?? (await dummyPasswordHash()),
      );
      // A wrong password needs nothing more: the reservation stays, counted as a failure.
      if (!row || !ok) throw appError('UNAUTHENTICATED', 'wrong username or password');
      await attempt.succeeded();
      const token = await ctx.tokens.sign({ id: row.id, username: row.username, role: row.role });
      ctx.log.info(`user ${row.username} logged in`);
      return { token, user: row };
    },
    createUser: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const username = valid.username(args.username);
      const password = valid.password(args.password);
      const displayName = valid.displayName(args.displayName ?? username);
      const role = args.role ?? 'MEMBER';
      try {
        const [row] = await ctx.db
          .insert(users)
          .values({
            id: uuidv7(),
            username,
            displayName,
            role,
            passwordHash: await hashPassword(password),
          })
          .returning();
        if (!row) throw new Error('insert returned no row');
        return row;
      } catch (error) {
        if (isUniqueViolation(error)) throw appError('CONFLICT', `username "${username}" is taken`);
        throw error;
      }
    },
  },
  User: {
    __resolveReference: (ref, ctx) => ctx.loaders.user.load(ref.id),
  },
};
