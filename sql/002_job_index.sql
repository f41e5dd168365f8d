-- Migration 2: roles and parameters of jobs as rows, so that list
-- filters on them are index lookups instead of a JSON scan of every job.
-- Triggers keep both tables equal to job.info; nothing else writes them.

-- Each is one b-tree keyed for the filters (role first, key and value
-- first), so that writing a job's roles or parameters touches as few
-- pages as possible: a commit costs about one page write per page.
-- Rows are removed through the old info's own values rather than by
-- job_id, which would need a second index.

CREATE TABLE job_role (
    role   TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (role, job_id)
) WITHOUT ROWID;

CREATE TABLE job_parameter (
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (key, value, job_id)
) WITHOUT ROWID;

CREATE TRIGGER job_index_insert AFTER INSERT ON job
BEGIN
    INSERT OR IGNORE INTO job_role (role, job_id)
        SELECT value, NEW.id FROM json_each(NEW.info, '$.roles');
    INSERT INTO job_parameter (key, value, job_id)
        SELECT key, value, NEW.id FROM json_each(NEW.info, '$.parameters');
END;

-- An update writes only what changed: the rows of roles and parameters
-- that left are deleted, the new ones inserted, and the ones that stayed
-- are not touched (INSERT OR IGNORE finds them and writes nothing), so an
-- edit dirties only the pages of what it changed.  The deletes are
-- written as IN (...) over the old values, which SQLite answers from the
-- primary key; a compound SELECT (EXCEPT) there made it scan the table.
CREATE TRIGGER job_roles_update AFTER UPDATE OF info ON job
WHEN json_extract(OLD.info, '$.roles') IS NOT json_extract(NEW.info, '$.roles')
BEGIN
    DELETE FROM job_role WHERE job_id = OLD.id
        AND role IN (
            SELECT o.value FROM json_each(OLD.info, '$.roles') AS o
            WHERE o.value NOT IN (
                SELECT n.value FROM json_each(NEW.info, '$.roles') AS n));
    INSERT OR IGNORE INTO job_role (role, job_id)
        SELECT value, NEW.id FROM json_each(NEW.info, '$.roles');
END;

CREATE TRIGGER job_parameters_update AFTER UPDATE OF info ON job
WHEN json_extract(OLD.info, '$.parameters')
     IS NOT json_extract(NEW.info, '$.parameters')
BEGIN
    DELETE FROM job_parameter WHERE job_id = OLD.id
        AND (key, value) IN (
            SELECT o.key, o.value FROM json_each(OLD.info, '$.parameters') AS o
            WHERE NOT EXISTS (
                SELECT 1 FROM json_each(NEW.info, '$.parameters') AS n
                WHERE n.key = o.key AND n.value = o.value));
    INSERT OR IGNORE INTO job_parameter (key, value, job_id)
        SELECT key, value, NEW.id FROM json_each(NEW.info, '$.parameters');
END;

CREATE TRIGGER job_index_delete AFTER DELETE ON job
BEGIN
    DELETE FROM job_role WHERE job_id = OLD.id
        AND role IN (SELECT value FROM json_each(OLD.info, '$.roles'));
    DELETE FROM job_parameter WHERE job_id = OLD.id
        AND (key, value) IN (SELECT key, value
                             FROM json_each(OLD.info, '$.parameters'));
END;

INSERT OR IGNORE INTO job_role (role, job_id)
    SELECT r.value, job.id FROM job, json_each(job.info, '$.roles') AS r;
INSERT INTO job_parameter (key, value, job_id)
    SELECT p.key, p.value, job.id
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
    ('job_parameter', 'job_parameter', '300000 30000 10 1'),
    ('job_role', 'job_role', '100000 10000 1'),
    ('execution', 'execution_job', '1000000 100 1');
