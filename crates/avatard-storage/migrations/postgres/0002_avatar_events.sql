-- Every change of what a user's avatar shows (set, reset, user deleted), in commit order: the
-- source of the `avatars.events` stream, of cache invalidation on every replica, and the outbox the
-- webhook is delivered from. Writers append under an advisory lock, so `seq` order is commit order
-- and a reader that has seen `seq` n has seen everything before it.
CREATE TABLE avatar_events (
    seq      BIGSERIAL PRIMARY KEY,
    user_id  TEXT NOT NULL,
    username TEXT NOT NULL,
    etag     TEXT,                 -- the new avatarETag; NULL when the avatar was removed
    at       BIGINT NOT NULL       -- Unix milliseconds
);
CREATE INDEX avatar_events_at ON avatar_events (at);

-- How far a consumer of the event log (the webhook) has come.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq  BIGINT NOT NULL
);
