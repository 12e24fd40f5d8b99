-- Every change of what a user's avatar shows (set, reset, user deleted), in commit order: the
-- source of the `avatars.events` stream, of cache invalidation, and the outbox the webhook is
-- delivered from. AUTOINCREMENT: sequence numbers are never reused, even after pruning.
CREATE TABLE avatar_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  TEXT NOT NULL,
    username TEXT NOT NULL,
    etag     TEXT,                 -- the new avatarETag; NULL when the avatar was removed
    at       INTEGER NOT NULL      -- Unix milliseconds
);
CREATE INDEX avatar_events_at ON avatar_events (at);

-- How far a consumer of the event log (the webhook) has come.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
