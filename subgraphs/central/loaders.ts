// Per-request DataLoaders: each batch of entity references (e.g. `_entities` for 100 users) is one
// SQL query, whatever its size.
import DataLoader from 'dataloader';
import { asc, eq, inArray } from 'drizzle-orm';
import type { CentralDatabase } from './db/open.ts';
import {
  activeNode,
  nodes,
  roomMembers,
  rooms,
  users,
  type NodeRow,
  type RoomRow,
  type UserRow,
} from './db/schema.ts';

function byId<T extends { id: string }>(
  ids: readonly string[],
  rows: readonly T[],
): Array<T | null> {
  const map = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => map.get(id) ?? null);
}

export interface Loaders {
  readonly user: DataLoader<string, UserRow | null>;
  readonly room: DataLoader<string, RoomRow | null>;
  readonly node: DataLoader<string, NodeRow | null>;
  readonly roomMembers: DataLoader<string, UserRow[]>;
  /** The rooms each user is a member of, oldest membership first. */
  readonly userRooms: DataLoader<string, RoomRow[]>;
  /** Every registered node, read once per request (replica lists need them all). */
  allNodes(): Promise<NodeRow[]>;
}

export function createLoaders(db: CentralDatabase): Loaders {
  let allNodes: Promise<NodeRow[]> | undefined;
  return {
    user: new DataLoader(async (ids) =>
      byId(
        ids,
        await db
          .select()
          .from(users)
          .where(inArray(users.id, [...ids])),
      ),
    ),
    room: new DataLoader(async (ids) =>
      byId(
        ids,
        await db
          .select()
          .from(rooms)
          .where(inArray(rooms.id, [...ids])),
      ),
    ),
    node: new DataLoader(async (ids) =>
      byId(
        ids,
        await db
          .select()
          .from(nodes)
          .where(inArray(nodes.id, [...ids])),
      ),
    ),
    roomMembers: new DataLoader(async (roomIds) => {
      const rows = await db
        .select({ roomId: roomMembers.roomId, user: users })
        .from(roomMembers)
        .innerJoin(users, eq(users.id, roomMembers.userId))
        .where(inArray(roomMembers.roomId, [...roomIds]))
        .orderBy(asc(roomMembers.joinedAt), asc(users.username));
      const grouped = new Map<string, UserRow[]>();
      for (const row of rows) {
        const list = grouped.get(row.roomId) ?? [];
        list.push(row.user);
        grouped.set(row.roomId, list);
      }
      return roomIds.map((id) => grouped.get(id) ?? []);
    }),
    userRooms: new DataLoader(async (userIds) => {
      const rows = await db
        .select({ userId: roomMembers.userId, room: rooms })
        .from(roomMembers)
        .innerJoin(rooms, eq(rooms.id, roomMembers.roomId))
        .where(inArray(roomMembers.userId, [...userIds]))
        .orderBy(asc(roomMembers.joinedAt), asc(rooms.id));
      const grouped = new Map<string, RoomRow[]>();
      for (const row of rows) {
        const list = grouped.get(row.userId) ?? [];
        list.push(row.room);
        grouped.set(row.userId, list);
      }
      return userIds.map((id) => grouped.get(id) ?? []);
    }),
    allNodes: () =>
      (allNodes ??= db.select().from(nodes).where(activeNode).orderBy(asc(nodes.name))),
  };
}
