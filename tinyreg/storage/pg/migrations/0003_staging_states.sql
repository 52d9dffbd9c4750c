-- The state of uploads a blob store in S3 stages as multipart uploads (the multipart upload's id,
-- its parts with their ETags and sizes, its checkpoints), kept here rather than as an object in
-- the bucket: a node continuing an upload another began reads it, and compares and sets it, in
-- the database all nodes share. One row per upload in progress, removed with it.
CREATE TABLE staging_states (
    upload_id text COLLATE "C" PRIMARY KEY,
    state     json NOT NULL,                         -- the blob store's record, never queried inside
    version   bigint NOT NULL CHECK (version >= 1),  -- one more at each save: a save names the one it read
    updated   double precision NOT NULL,             -- the last save (an upload idle long enough expires)
    holder    text,                                  -- who appends now (NULL: nobody)
    expires   double precision NOT NULL              -- when another may take over from `holder`
);
