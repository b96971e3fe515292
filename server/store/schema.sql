-- Ablate's database, schema version 1: the tables migration 1 creates.
--
-- This file is compiled into the server (server/store/CMakeLists.txt embeds it), so it is the
-- schema itself, not a copy. Later versions are further migrations listed in migrations.cc;
-- PRAGMA user_version holds the version a file is at, and PRAGMA application_id marks the file
-- as Ablate's.
--
-- Conventions, chosen so that plain SQL on this file gives the right answers:
--
-- * Times are INTEGER milliseconds since the Unix epoch (UTC), NULL until the moment happens.
--   Integers compare, sort and index exactly and cannot fail to parse, and a lab needs no finer
--   clock than a millisecond. Read them as text with
--     strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch').
-- * States are the proto enum names, lowercase and without their prefix ('queued', 'running',
--   'succeeded', ...), with CHECK constraints that keep them to the enum's values.
-- * Values the trainer measures in float32 (losses, gradient norms, step times, accuracies)
--   are stored as doubles, which hold every float exactly, in columns of type ANY: SQLite
--   writes an integral value of a REAL column to disk as an integer, which turns -0.0 into 0.
--   A CHECK keeps them real.
-- * SQLite stores NaN as NULL, and an infinity would poison every aggregate it enters. So a
--   column that may see a non-finite value (losses, gradient norms) holds finite values only
--   and is NULL otherwise, and its companion <column>_class names the value it stands for:
--   'nan', 'inf' or '-inf'. SELECT avg(loss) averages the finite losses, and
--   WHERE loss_class IS NOT NULL finds the others. (NaN sign and payload bits are not kept.)
-- * Sequence numbers are per job. jobs.last_seq is the newest; every event the store appended
--   left its number in the row it wrote (steps.seq, runs.started_seq, ...), so "the job's
--   events after N" is a set of index range scans (see the indexes below).
-- * Tables are STRICT: a value of the wrong type is an error, not a silent conversion.
-- * A CHECK on a column written with every step spells its allowed values out with OR: SQLite
--   evaluates "x IN (a, b, c)" through a temporary b-tree, built anew for every row inserted,
--   which made step inserts five times slower.

-- One submitted job: a spec and the runs it expands to.
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: never reused, even after a delete
  name TEXT NOT NULL,                    -- spec.name
  owner TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  -- The resolved v1.JobSpec in protobuf's JSON mapping with proto field names
  -- (json_extract(spec, '$.training.steps')); 64-bit integers are JSON strings there.
  spec TEXT NOT NULL CHECK (json_valid(spec)),
  error TEXT NOT NULL DEFAULT '',        -- why it failed, when state = 'failed'
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  last_seq INTEGER NOT NULL DEFAULT 0,   -- the newest event's sequence number; 0 before any
  finished_seq INTEGER                   -- the JobFinished event's
) STRICT;

-- ListJobs by owner, newest first.
CREATE INDEX jobs_by_owner ON jobs (owner, id);
-- ListJobs by state and UnfinishedJobs ('queued' and 'running').
CREATE INDEX jobs_by_state ON jobs (state, id);

-- One run of a job: one weight init trained on the job's data.
--
-- steps_done (max(step) + 1), first_nonfinite_step, final_loss (the last step's) and seconds
-- (the sum of the steps' seconds) describe the steps recorded so far. Append maintains them as
-- steps arrive, one UPDATE per run per batch, rather than readers deriving them: seconds would
-- otherwise be a sum over every step of the run on each read, and runs are read (GetJob,
-- ListJobs, every watcher) far more often than written. RunFinished copies the trainer's
-- summary, except that a run with recorded steps keeps the steps' own steps_done,
-- first_nonfinite_step and final_loss, and that the summary's seconds replaces the sum only
-- when it is measured (> 0). steps_per_second is NULL unless the summary measured it, and is
-- then derived when read, as steps_done / seconds.
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs (id),
  idx INTEGER NOT NULL CHECK (idx >= 0),   -- position in the job's spec.runs
  -- The run's spec (also inside jobs.spec), as columns so that SQL can group by init.
  init TEXT NOT NULL,
  weight_seed INTEGER,                     -- a uint64 stored as the int64 with the same bits
  uniform_low ANY CHECK (uniform_low IS NULL OR typeof(uniform_low) = 'real'),
  uniform_high ANY CHECK (uniform_high IS NULL OR typeof(uniform_high) = 'real'),
  state TEXT NOT NULL
      CHECK (state IN ('queued', 'running', 'completed', 'diverged', 'cancelled', 'failed')),
  outcome TEXT NOT NULL,                   -- "diverged at step 17", ...
  steps_done INTEGER NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,         -- training wall time
  steps_per_second REAL,
  first_nonfinite_step INTEGER,
  flatline_step INTEGER,
  final_loss ANY CHECK (final_loss IS NULL OR typeof(final_loss) = 'real'),
  final_loss_class TEXT
      CHECK (final_loss_class = 'nan' OR final_loss_class = 'inf' OR final_loss_class = '-inf'),
  final_eval_step INTEGER,                 -- final_eval_*: NULL when there is no final eval
  final_eval_loss ANY CHECK (final_eval_loss IS NULL OR typeof(final_eval_loss) = 'real'),
  final_eval_loss_class TEXT CHECK (final_eval_loss_class = 'nan' OR
                                    final_eval_loss_class = 'inf' OR
                                    final_eval_loss_class = '-inf'),
  final_eval_accuracy ANY
      CHECK (final_eval_accuracy IS NULL OR typeof(final_eval_accuracy) = 'real'),
  -- Per-layer v1.LayerStats as a JSON array of objects with proto field names
  -- (json_extract(init_stats, '$[0].weight_variance')); non-finite values are the strings
  -- "NaN", "Infinity" and "-Infinity" of protobuf's JSON mapping.
  init_stats TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(init_stats)),
  final_stats TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(final_stats)),
  started_at INTEGER,                      -- the first start: a restart keeps it
  finished_at INTEGER,
  started_seq INTEGER,                     -- the latest RunStarted event's sequence number
  finished_seq INTEGER,                    -- the RunFinished event's
  UNIQUE (job_id, idx),                    -- also serves every "runs of job J" lookup
  CHECK (final_loss IS NULL OR final_loss_class IS NULL),
  CHECK (final_eval_loss IS NULL OR final_eval_loss_class IS NULL)
) STRICT;

-- One training step of a run: the mean loss of its batch after `step` updates.
CREATE TABLE steps (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  step INTEGER NOT NULL CHECK (step >= 0),
  seq INTEGER NOT NULL,
  loss ANY CHECK (loss IS NULL OR typeof(loss) = 'real'),
  loss_class TEXT CHECK (loss_class = 'nan' OR loss_class = 'inf' OR loss_class = '-inf'),
  weight_grad_norm ANY CHECK (weight_grad_norm IS NULL OR typeof(weight_grad_norm) = 'real'),
  weight_grad_norm_class TEXT CHECK (weight_grad_norm_class = 'nan' OR
                                     weight_grad_norm_class = 'inf' OR
                                     weight_grad_norm_class = '-inf'),
  seconds ANY NOT NULL CHECK (typeof(seconds) = 'real'),  -- wall time of this step
  CHECK ((loss IS NULL) <> (loss_class IS NULL)),
  CHECK ((weight_grad_norm IS NULL) <> (weight_grad_norm_class IS NULL)),
  -- The trajectory of a run is a range of this key, already in step order (GetTrajectory).
  PRIMARY KEY (run_id, step)
) STRICT, WITHOUT ROWID;

-- ReadUpdate: a run's steps with seq in (after, cursor] are one range scan.
CREATE INDEX steps_by_seq ON steps (run_id, seq);

-- A validation of a run after `step` updates.
CREATE TABLE evals (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  step INTEGER NOT NULL CHECK (step >= 0),
  seq INTEGER NOT NULL,
  loss ANY CHECK (loss IS NULL OR typeof(loss) = 'real'),
  loss_class TEXT CHECK (loss_class = 'nan' OR loss_class = 'inf' OR loss_class = '-inf'),
  accuracy ANY NOT NULL CHECK (typeof(accuracy) = 'real'),
  CHECK ((loss IS NULL) <> (loss_class IS NULL)),
  PRIMARY KEY (run_id, step)
) STRICT, WITHOUT ROWID;

-- ReadUpdate: a run's evals with seq in (after, cursor].
CREATE INDEX evals_by_seq ON evals (run_id, seq);

-- A job's deliverables (job.json, losses.json, loss_curves.png, ...).
CREATE TABLE artifacts (
  id INTEGER PRIMARY KEY,                  -- insertion order; replacing a file keeps its place
  job_id INTEGER NOT NULL REFERENCES jobs (id),
  name TEXT NOT NULL CHECK (name <> ''),
  content_type TEXT NOT NULL,
  data BLOB NOT NULL,
  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),  -- lowercase hex of data
  UNIQUE (job_id, name)                    -- GetArtifact; ListArtifacts reads names from it alone
) STRICT;
