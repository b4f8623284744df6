-- The daemon-wide hash cache: a digest stays valid while the file's stamp (device,
-- inode, size, mtime and ctime with nanoseconds) is unchanged.
CREATE TABLE hash_cache (
    path     BLOB    PRIMARY KEY,
    device   INTEGER NOT NULL,
    inode    INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    blake3   BLOB    NOT NULL
) WITHOUT ROWID;
