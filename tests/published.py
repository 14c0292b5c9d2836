"""What the Pusher leaves for a version it published, written by hand for tests that
make their own output directories: `predict` loads only such versions
(pipeline/predict_guard.py)."""

import json
import shutil


def record_push(output_dir, version_dir, check=None):
    """What the Pusher leaves for a version it published (pipeline/pusher.py): its
    archive copy of the version and a PushedModel in ML Metadata whose
    `servable_check` is the check's report."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    version = int(version_dir.name)
    archive = output_dir / "tfx" / "Pusher" / "pushed_model" / str(version)
    shutil.copytree(version_dir, archive)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(output_dir / "metadata.db")
    config.sqlite.connection_mode = \
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="PushedModel"))
    artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=str(archive))
    artifact.custom_properties["pushed"].int_value = 1
    artifact.custom_properties["pushed_version"].string_value = str(version)
    artifact.custom_properties["pushed_destination"].string_value = str(version_dir)
    artifact.custom_properties["servable_check"].string_value = json.dumps(
        check if check is not None else {"problems": [], "warmup_requests": 4})
    store.put_artifacts([artifact])
