-- Flags are integers (0/1) and times Unix milliseconds, in both databases, so one implementation
-- reads both.

-- Users. `username_key`/`email_key` are the lower-cased forms that make lookups and uniqueness
-- case-insensitive, as Rocket.Chat's are; `username` keeps the spelling served avatars are found by.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    username_key   TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    email          TEXT,
    email_key      TEXT UNIQUE,
    email_verified BIGINT NOT NULL DEFAULT 0,
    password_hash  TEXT,
    roles          TEXT NOT NULL,          -- JSON array of role names
    active         BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL        -- Unix milliseconds
);
CREATE INDEX users_username ON users (username);

-- Login tokens, stored only as base64(SHA-256(token)).
CREATE TABLE login_tokens (
    hashed_token TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL
);
CREATE INDEX login_tokens_user ON login_tokens (user_id);

-- The current avatar of each user that has one. `blob_key` names immutable, content-addressed bytes.
CREATE TABLE avatars (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    blob_key     TEXT NOT NULL,
    etag         TEXT NOT NULL,
    origin       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    uploaded_at  BIGINT NOT NULL
);

CREATE TABLE permissions (
    id         TEXT PRIMARY KEY,
    roles      TEXT NOT NULL,              -- JSON array of role names
    updated_at BIGINT NOT NULL
);

-- Only settings changed from their defaults are stored; values are JSON.
CREATE TABLE settings (
    id         TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Time-limited leases, so that periodic work (the orphan sweep) runs on one replica at a time.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
