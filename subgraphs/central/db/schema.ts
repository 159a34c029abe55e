// Central's tables (Postgres dialect; the same schema runs on PGlite and real PostgreSQL).
// Migrations in ../migrations are generated from this file with `npm run db:generate`.
import { sql } from 'drizzle-orm';
import {
  boolean,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

export const roleEnum = pgEnum('role', ['ADMIN', 'MEMBER']);
export const nodeStatusEnum = pgEnum('node_status', ['ONLINE', 'OFFLINE', 'DEGRADED']);

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  displayName: text('display_name').notNull(),
  passwordHash: text('password_hash').notNull(),
  role: roleEnum('role').notNull().default('MEMBER'),
  createdAt: createdAt(),
});

export const nodes = pgTable('nodes', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  url: text('url').notNull(),
  apiKeyHash: text('api_key_hash').notNull().unique(),
  status: nodeStatusEnum('status').notNull().default('OFFLINE'),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
  lastSyncAt: timestamp('last_sync_at', { withTimezone: true }),
  syncEnabled: boolean('sync_enabled').notNull().default(true),
  autoSyncInterval: integer('auto_sync_interval').notNull().default(300),
  createdAt: createdAt(),
});

export const rooms = pgTable(
  'rooms',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    homeNodeId: text('home_node_id')
      .notNull()
      .references(() => nodes.id),
    /** The nodes that keep a copy besides the home node; null = every registered node. */
    replicaNodeIds: text('replica_node_ids').array(),
    createdBy: text('created_by').references(() => users.id),
    createdAt: createdAt(),
  },
  (t) => [index('rooms_home_node_idx').on(t.homeNodeId)],
);

export const roomMembers = pgTable(
  'room_members',
  {
    roomId: text('room_id')
      .notNull()
      .references(() => rooms.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.userId] }),
    index('room_members_user_idx').on(t.userId),
  ],
);

/** Small key/value state shared by every central replica (e.g. the token signing key). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true })
    .notNull()
    .default(sql`now()`),
});

export type UserRow = typeof users.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type RoomRow = typeof rooms.$inferSelect;
