"""Entry points for heavy steps run out of process (Dagster Pipes), each calling the same core functions.

spark_scoring: featurize + score a batch in Spark (``mapInPandas`` over ``score_chunk``); glue_scoring: the AWS Glue
job script around it; job_inputs: what such a job receives (model bundle, stamp, rules) as JSON.
"""
