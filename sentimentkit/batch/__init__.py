"""Batch scoring on Spark (`sentimentkit batch`): CSV, JSON Lines or Parquet in, Parquet with the CLI's output
columns out, scored with `mapInPandas` (one model per Python worker). `job` is the driver side, `score` the worker
side. pyspark is an extra (`pip install "sentimentkit[spark]"`) and is imported only when a job runs.
"""
