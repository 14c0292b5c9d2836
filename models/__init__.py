"""TFX user code: model inputs derived from a schema, the Transform graph, the Trainer.

Everything TFX imports by dotted path lives here, and `fingerprint()` hashes this
package's source so that the pipeline re-runs Transform and Trainer whenever it changes.
"""

import hashlib
from pathlib import Path


def fingerprint(package_dir: Path | None = None) -> str:
    """A short hash of every Python source file in this package (or in `package_dir`)."""
    digest = hashlib.sha256()
    package_dir = package_dir or Path(__file__).resolve().parent
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
