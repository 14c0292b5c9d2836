"""Packaging: the direct dependencies. requirements.lock pins everything they resolve to."""

from setuptools import find_packages, setup

setup(
    name="tfx-taxi-pipeline",
    version="0.1.0",
    description="A TFX 1.21 pipeline that runs end to end on a laptop and ships only better models",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["pipeline", "pipeline.*", "models", "models.*"]),
    install_requires=[
        "tfx==1.21.0",
        # TFX's Trainer imports tensorboard; tfx 1.21 does not declare it.
        "tensorboard",
    ],
    extras_require={"test": ["pytest", "ruff"]},
    entry_points={"console_scripts": ["taxi-pipeline=pipeline.cli:main"]},
)
