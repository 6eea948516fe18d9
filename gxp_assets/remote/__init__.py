"""Entry points for heavy steps run out of process (Dagster Pipes); filled in by later stages."""
