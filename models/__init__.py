"""TFX user code: model inputs derived from a schema, the Transform graph, the Trainer.

Everything TFX imports by dotted path lives here, and `fingerprint()` hashes this
package's source so that the pipeline re-runs Transform and Trainer whenever it changes.
"""

import hashlib
import os
from pathlib import Path

# Keras 3 behind `tf.keras`, whatever is imported first. tensorflow_transform sets
# TF_USE_LEGACY_KERAS=1 (Keras 2, tf_keras) when it is unset, which wins only if it is
# imported before anything touches `tf.keras`: a pipeline run got Keras 3, a process
# that imported models.model first got Keras 2. KerasTuner (models/tuner.py) only takes
# Keras 3 models. tensorflow_transform uses tf_keras for itself either way.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "0")


def fingerprint(package_dir: Path | None = None) -> str:
    """A short hash of every Python source file in this package (or in `package_dir`)."""
    digest = hashlib.sha256()
    package_dir = package_dir or Path(__file__).resolve().parent
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
