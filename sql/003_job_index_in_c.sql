-- Migration 3: a job update keeps job_role and job_parameter itself
-- (store_job.c), from the old and new info it has already parsed.
-- The triggers this drops parsed both documents again for their WHEN
-- clauses and again for each row they compared, which made them half the
-- cost of a PUT.  Inserts and deletes keep their triggers: they read one
-- document once.  The only other writer of job.info, an operation's new
-- backoff, changes neither roles nor parameters.

DROP TRIGGER job_roles_update;
DROP TRIGGER job_parameters_update;
