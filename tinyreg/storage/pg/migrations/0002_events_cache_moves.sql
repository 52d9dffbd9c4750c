-- Event notifications, the pull-through cache, moves, and copies between stores.

-- A repository's id may be given by a copy from another store (`put_repository`): its tags,
-- manifests and links follow a changed id. A move renames `repositories.name` alone, since every
-- row of a repository refers to it by id.
ALTER TABLE manifests DROP CONSTRAINT manifests_repository_id_fkey,
    ADD CONSTRAINT manifests_repository_id_fkey FOREIGN KEY (repository_id)
        REFERENCES repositories (id) ON UPDATE CASCADE ON DELETE CASCADE;
ALTER TABLE tags DROP CONSTRAINT tags_repository_id_fkey,
    ADD CONSTRAINT tags_repository_id_fkey FOREIGN KEY (repository_id)
        REFERENCES repositories (id) ON UPDATE CASCADE ON DELETE CASCADE;
ALTER TABLE links DROP CONSTRAINT links_repository_id_fkey,
    ADD CONSTRAINT links_repository_id_fkey FOREIGN KEY (repository_id)
        REFERENCES repositories (id) ON UPDATE CASCADE ON DELETE CASCADE;

-- One queue of events per delivery target (a configured endpoint, a project's hook), with its
-- next sequence number and the counts every write keeps: neither the bound check of a new event
-- nor a scrape of the metrics counts rows. A queue's row stays once it held an event (its counts).
CREATE TABLE event_queues (
    name      text COLLATE "C" PRIMARY KEY,
    next_seq  bigint NOT NULL DEFAULT 1,
    pending   bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),  -- queued, not yet delivered
    queued    bigint NOT NULL DEFAULT 0,
    delivered bigint NOT NULL DEFAULT 0,
    failed    bigint NOT NULL DEFAULT 0,   -- delivery attempts that failed
    dropped   bigint NOT NULL DEFAULT 0    -- events refused because the queue was full
);

-- The events not yet delivered, as the JSON bytes delivered; a delivered batch is removed by its
-- last sequence number (the primary key: the oldest first, and a range delete).
CREATE TABLE events (
    queue text COLLATE "C" NOT NULL REFERENCES event_queues (name) ON DELETE CASCADE,
    seq   bigint NOT NULL,
    event bytea NOT NULL,
    PRIMARY KEY (queue, seq)
);

-- Projects' webhooks, by project path and id. Like members (see 0001), kept by the layer above,
-- which may record them apart from the project's row: no foreign key to projects. A moved project
-- takes its hooks along (their queues are named by hook id, so they stay).
CREATE TABLE project_hooks (
    project_path text COLLATE "C" NOT NULL,
    id           bigint NOT NULL,
    attributes   json NOT NULL,             -- the hook's row as written (its `id` included)
    PRIMARY KEY (project_path, id)
);

-- Repositories of the pull-through cache. The row may be written before the repository has one
-- (a first pull records it), so it is keyed by name, not by a foreign key to repositories;
-- deleting the repository removes it.
CREATE TABLE cached_repositories (
    repository  text COLLATE "C" PRIMARY KEY,
    mirror      text NOT NULL,
    upstream    text NOT NULL,
    last_pulled double precision NOT NULL,  -- eviction takes the least recent first
    hits        bigint NOT NULL,
    misses      bigint NOT NULL,
    checked     json NOT NULL               -- tag -> when upstream last gave or confirmed it
);

-- Old paths of moved projects and repositories: they answer for the new one until `expires`
-- (whether an alias is still in force is decided above storage; expired rows stay until removed).
CREATE TABLE aliases (
    path    text COLLATE "C" PRIMARY KEY,
    kind    text NOT NULL CHECK (kind IN ('project', 'repository')),
    target  text COLLATE "C" NOT NULL,
    created double precision NOT NULL,
    expires double precision NOT NULL
);
