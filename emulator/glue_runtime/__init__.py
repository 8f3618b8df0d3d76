"""A Glue runtime: job runs execute their script from the emulator's S3 on local PySpark (Glue 5.0).

What a job needs (the same definition works in AWS):
- ``Command.ScriptLocation``: the s3:// URL of the script, uploaded to the emulator's S3 before a run starts.
  ``Command.Name`` ``glueetl`` (the default) needs Java 17; ``pythonshell`` runs without it.
- ``DefaultArguments`` merged with the run's ``Arguments`` (the run's win, ``NonOverridableArguments`` win over
  both) reach the script as ``--key value``, followed by ``--JOB_NAME`` and ``--JOB_RUN_ID``; read them with
  ``awsglue.utils.getResolvedOptions(sys.argv, ["JOB_NAME", ...])`` (``JOB_RUN_ID`` comes with it: listing
  it again is an argparse conflict, as in Glue).
- ``--extra-py-files``: comma-separated s3:// URLs of .py or .zip files, importable in the driver and in the
  Spark executors. Nothing else of this project is: like Glue, a job sees only its runtime (the venv's
  site-packages: pyspark, boto3, awsglue) and these files.
- ``Timeout`` (minutes; the run's overrides the job's) ends a run in TIMEOUT; ``ExecutionProperty.
  MaxConcurrentRuns`` (default 1) refuses further StartJobRun calls with ConcurrentRunsExceededException.

The script runs as ``python script.py ...`` with the emulator's internal endpoint in AWS_ENDPOINT_URL (and its
CA in AWS_CA_BUNDLE), so boto3 reaches the emulator from the driver and the executors alike, as the job's
``Role``: each run gets that role's credentials (session ``GlueJobRunnerSession``), and reads its script and
writes its logs with them too. A role Glue cannot assume fails the run. Spark's own settings belong to the script; those that
keep a local run to seconds rather than tens of seconds: ``spark.ui.enabled=false``,
``spark.ui.showConsoleProgress=false``, ``spark.sql.shuffle.partitions`` small (2-8, not 200), and no
``.master(...)`` in the script (locally Spark defaults to ``local[*]``; in Glue the cluster sets it).
"""

from emulator.glue_runtime.responses import GlueRuntimeExtension

__all__ = ["GlueRuntimeExtension"]
