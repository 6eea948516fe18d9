"""The ML domain as plain Python: no Dagster, no boto3, so every function runs anywhere (Spark, SageMaker)."""
