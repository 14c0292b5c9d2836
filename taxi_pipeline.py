"""The import path of the `taxi_pipeline.DataVerdict` artifact type.

Kubeflow V2 names a custom artifact type by its TYPE_NAME, which must read
`<namespace>.<Title>`; TFX's V2 container entrypoint then imports that name as a class
path to rebuild the artifact. This module makes the name importable, so the DataGate
and every task its verdict gates can run in the image (deploy/Dockerfile).
"""

from pipeline.gate import DataVerdict

__all__ = ["DataVerdict"]
