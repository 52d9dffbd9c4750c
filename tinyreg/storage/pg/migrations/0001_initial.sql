-- The metadata of one tinyreg registry. Names, tags and digests are compared COLLATE "C", so
-- listings come out in byte order, as on LMDB, whatever the database's own collation.
-- Times are seconds since the epoch (double precision), as everywhere in tinyreg.
-- Open-ended values (annotations, the access model's fields) are `json`, not `jsonb`: they are
-- never queried inside, and jsonb refuses a string holding NUL (\u0000), which JSON allows.

-- Repositories, numbered from the counter "repository" (in the unit of work that adds them, so a
-- failed one uses no number). Their tags, manifests and blob links go with them (ON DELETE CASCADE).
CREATE TABLE repositories (
    id      bigint PRIMARY KEY,
    name    text COLLATE "C" NOT NULL UNIQUE,  -- the catalog: name > $after ORDER BY name LIMIT n
    created double precision NOT NULL,
    updated double precision                    -- last manifest put or tag set ("last published")
);

-- A manifest's bytes, stored once per digest whatever the number of repositories holding it.
-- No foreign key from manifests: garbage collection removes the bytes once nothing refers to them.
CREATE TABLE manifest_data (
    digest text COLLATE "C" PRIMARY KEY,
    data   bytea NOT NULL
);

CREATE TABLE manifests (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        text COLLATE "C" NOT NULL,
    media_type    text NOT NULL,
    size          bigint NOT NULL,
    artifact_type text,
    subject       text COLLATE "C",            -- the manifest this one refers to (referrers API)
    annotations   json,
    refs          text[] NOT NULL,              -- blobs, then child manifests (the last `children`)
    children      integer,
    created       double precision NOT NULL,
    data          bytea,                        -- the repository's own copy (signed schema 1), else NULL
    PRIMARY KEY (repository_id, digest)
);
-- Referrers are the manifests of a repository with a given subject, in digest order: the index
-- answers them without a table of their own that could drift from the manifests.
CREATE INDEX manifests_referrers ON manifests (repository_id, subject, digest) WHERE subject IS NOT NULL;

-- A tag may point at a digest whose manifest is not (yet, or no longer) stored: no foreign key to manifests.
CREATE TABLE tags (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          text COLLATE "C" NOT NULL,   -- tags after $after ORDER BY name LIMIT n: the primary key
    digest        text COLLATE "C" NOT NULL,
    pushed_at     double precision,             -- NULL for tags kept from before push times were recorded
    PRIMARY KEY (repository_id, name)
);
-- The tags of one manifest (a delete by digest touches only its own tags).
CREATE INDEX tags_by_digest ON tags (repository_id, digest, name);

-- Blob files known to be stored, and the repositories each may be read through.
CREATE TABLE blobs (
    digest  text COLLATE "C" PRIMARY KEY,
    size    bigint NOT NULL,
    created double precision NOT NULL
);

-- A link may outlive its blob row (garbage collection removes the row first): no foreign key to blobs.
CREATE TABLE links (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        text COLLATE "C" NOT NULL,
    size          bigint,
    created       double precision,
    PRIMARY KEY (repository_id, digest)
);

-- Upload sessions in progress (the repository may not exist until the first blob is linked).
CREATE TABLE uploads (
    id         text COLLATE "C" PRIMARY KEY,
    repository text COLLATE "C" NOT NULL,
    size       bigint NOT NULL,
    started    double precision NOT NULL,
    updated    double precision NOT NULL
);

-- The access model. The rows are open-ended (the access layer adds fields over time): typed key
-- columns, the rest in `attributes`. `id` is NULL for rows not numbered (never indexed).
CREATE TABLE users (
    name       text COLLATE "C" PRIMARY KEY,
    id         bigint UNIQUE,
    attributes json NOT NULL
);

CREATE TABLE projects (
    path       text COLLATE "C" PRIMARY KEY,   -- projects below a group: path >= 'g/' AND path < 'g0'
    id         bigint UNIQUE,
    attributes json NOT NULL
);

CREATE TABLE groups (
    path       text COLLATE "C" PRIMARY KEY,
    id         bigint UNIQUE,
    attributes json NOT NULL
);

-- Memberships are kept by the access layer, which may record them before or after the user, project
-- or group rows (and removes them itself): no foreign keys.
CREATE TABLE members (
    project_path text COLLATE "C" NOT NULL,
    user_name    text COLLATE "C" NOT NULL,
    attributes   json NOT NULL,
    PRIMARY KEY (project_path, user_name)
);

CREATE TABLE group_members (
    group_path text COLLATE "C" NOT NULL,
    user_name  text COLLATE "C" NOT NULL,
    attributes json NOT NULL,
    PRIMARY KEY (group_path, user_name)
);

-- Tokens by the sha256 of their secret (`key`), and by id.
CREATE TABLE tokens (
    key        bytea PRIMARY KEY,
    id         bigint NOT NULL UNIQUE,
    attributes json NOT NULL
);

-- Named counters handed out in units of work (ids, the "usage counted" mark): transactional,
-- unlike sequences, so a unit of work that fails uses no number.
CREATE TABLE counters (
    name  text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);

-- Usage: how many manifests of a project (or repository) reference a digest and its size, and
-- the bytes of each owner's distinct digests.
CREATE TABLE usage_refs (
    kind      text NOT NULL CHECK (kind IN ('project', 'repository')),
    owner     text COLLATE "C" NOT NULL,
    digest    text COLLATE "C" NOT NULL,
    manifests bigint NOT NULL CHECK (manifests > 0),
    size      bigint NOT NULL,
    PRIMARY KEY (kind, owner, digest)
);

CREATE TABLE usage_totals (
    kind  text NOT NULL CHECK (kind IN ('project', 'repository')),
    owner text COLLATE "C" NOT NULL,
    total bigint NOT NULL,
    PRIMARY KEY (kind, owner)
);

-- Bytes of all blob rows plus the shared manifest bytes: one row, kept by the writes that change them.
CREATE TABLE stored_bytes (
    single boolean PRIMARY KEY DEFAULT true CHECK (single),
    total  bigint NOT NULL
);
INSERT INTO stored_bytes (total) VALUES (0);

-- Housekeeping: projects' cleanup policies (GitLab's fields, open-ended), and leases of periodic tasks.
CREATE TABLE cleanup_policies (
    project_path text COLLATE "C" PRIMARY KEY,
    attributes   json NOT NULL
);

CREATE TABLE leases (
    name    text COLLATE "C" PRIMARY KEY,
    holder  text NOT NULL,
    expires double precision NOT NULL
);
