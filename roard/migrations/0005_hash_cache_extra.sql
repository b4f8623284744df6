-- Digests of the extra algorithms (see roard --hash-algorithms), as
-- "algorithm:hex" entries separated by commas; empty when only BLAKE3 was computed.
ALTER TABLE hash_cache ADD COLUMN extra TEXT NOT NULL DEFAULT '';
