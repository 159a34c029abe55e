// Id formats shared by central, the nodes and the gateway. Central makes user, room, node and
// session ids, nodes make message ids (UUIDv7, so that ids sort by creation time): all UUIDs.

/** A UUID in any case: what clients may type. Compare lowercased. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID as our own components write it: lowercase only (sync refuses any other spelling). */
export const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A UUIDv7 (RFC 9562: version 7, variant 10), in any case. */
export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
