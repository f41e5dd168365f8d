-- Migration 2: roles and parameters of jobs as rows, so that list
-- filters on them are index lookups instead of a JSON scan of every job.
-- Triggers keep both tables equal to job.info; nothing else writes them.

CREATE TABLE job_role (
    job_id INTEGER NOT NULL REFERENCES job (id) ON DELETE CASCADE,
    role   TEXT NOT NULL,
    PRIMARY KEY (job_id, role)
) WITHOUT ROWID;

CREATE INDEX job_role_by_role ON job_role (role, job_id);

CREATE TABLE job_parameter (
    job_id INTEGER NOT NULL REFERENCES job (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;

CREATE INDEX job_parameter_by_value ON job_parameter (key, value, job_id);

CREATE TRIGGER job_index_insert AFTER INSERT ON job
BEGIN
    INSERT OR IGNORE INTO job_role (job_id, role)
        SELECT NEW.id, value FROM json_each(NEW.info, '$.roles');
    INSERT INTO job_parameter (job_id, key, value)
        SELECT NEW.id, key, value FROM json_each(NEW.info, '$.parameters');
END;

CREATE TRIGGER job_index_update AFTER UPDATE OF info ON job
BEGIN
    DELETE FROM job_role WHERE job_id = NEW.id;
    DELETE FROM job_parameter WHERE job_id = NEW.id;
    INSERT OR IGNORE INTO job_role (job_id, role)
        SELECT NEW.id, value FROM json_each(NEW.info, '$.roles');
    INSERT INTO job_parameter (job_id, key, value)
        SELECT NEW.id, key, value FROM json_each(NEW.info, '$.parameters');
END;

INSERT OR IGNORE INTO job_role (job_id, role)
    SELECT job.id, r.value FROM job, json_each(job.info, '$.roles') AS r;
INSERT INTO job_parameter (job_id, key, value)
    SELECT job.id, p.key, p.value
    FROM job, json_each(job.info, '$.parameters') AS p;

-- Planner statistics.  Without them SQLite assumes that an operation has
-- few jobs and walks all of an operation's jobs for a filtered list; with
-- them it starts from the parameter index, which for a selective filter
-- touches only the matching jobs.  The numbers describe the shape of a
-- large installation (many jobs per operation, many distinct parameter
-- values) rather than this database's current contents, so that the
-- plans do not change as it fills up.  "ANALYZE sqlite_schema" only
-- creates the statistics table.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('job', 'sqlite_autoindex_job_1', '100000 10000 1'),
    ('job', 'job_due', '100000 33000 2'),
    ('execution', 'execution_running', '1000000 200000 2'),
    ('job_parameter', 'job_parameter_by_value', '300000 30000 10 1'),
    ('job_parameter', 'sqlite_autoindex_job_parameter_1', '300000 3 1'),
    ('job_role', 'job_role_by_role', '100000 10000 1'),
    ('job_role', 'sqlite_autoindex_job_role_1', '100000 1 1'),
    ('execution', 'execution_job', '1000000 100 1');
