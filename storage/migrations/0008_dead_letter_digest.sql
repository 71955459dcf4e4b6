-- A dead letter produced twice (a producer's retry after a lost acknowledgement writes the same
-- record at a second offset) is stored once: the SHA-256 of the record's bytes is unique.
-- Letters stored before this migration have no digest.
ALTER TABLE dead_letters ADD COLUMN digest bytea;
CREATE UNIQUE INDEX dead_letters_digest ON dead_letters (digest);
