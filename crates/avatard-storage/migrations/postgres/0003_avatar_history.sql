-- The audit trail of avatar changes: who set or reset whose avatar, how, from where, and what it
-- replaced. Written in the transaction of the change itself. Rows outlive their user (an audit
-- trail must); the blobs they name are kept only for the newest few per user, for restoring.
CREATE TABLE avatar_history (
    id             BIGSERIAL PRIMARY KEY,
    user_id        TEXT NOT NULL,
    username       TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_username TEXT NOT NULL,
    action         TEXT NOT NULL,  -- rest, url, reset, restore
    previous_etag  TEXT,           -- NULL when the user had no avatar before
    etag           TEXT,           -- NULL after a reset
    blob_key       TEXT,           -- the new avatar's bytes; NULL after a reset
    content_type   TEXT,
    size           BIGINT,
    ip             TEXT,           -- the client address the request came from, when known
    at             BIGINT NOT NULL   -- Unix milliseconds
);
CREATE INDEX avatar_history_user ON avatar_history (user_id, id);
