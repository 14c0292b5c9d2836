"""Locations given as URIs: Beam's file:// filesystem (pipeline/file_scheme.py), the
helpers that read and write through TFX's filesystem layer (pipeline/uris.py), and
what the configuration, the data checks, the Beam arguments and the serving side make
of a file:// location. The whole run on file:// URIs is tests/e2e/test_uri_e2e.py."""

import dataclasses

import pytest

from pipeline import config, data, serving, uris
from pipeline.beam import FILE_SCHEME_PLUGIN, beam_pipeline_args
from pipeline.exit_codes import EXIT_USAGE
from tests.conftest import cli_in_process, write_taxi_sample


def test_beam_reads_writes_and_matches_file_uris(tmp_path):
    from apache_beam.io.filesystems import FileSystems

    import pipeline.file_scheme  # noqa: F401

    base = f"file://{tmp_path}"
    with FileSystems.create(FileSystems.join(base, "out", "part-0.txt")) as handle:
        handle.write(b"written by Beam")
    assert (tmp_path / "out" / "part-0.txt").read_bytes() == b"written by Beam"
    (match,) = FileSystems.match([f"{base}/out/part-*.txt"])
    # The matched paths keep the scheme, so the pattern (which has it) matches them.
    assert [found.path for found in match.metadata_list] == [f"{base}/out/part-0.txt"]
    assert FileSystems.split(f"{base}/out/part-0.txt") == (f"{base}/out", "part-0.txt")
    with FileSystems.open(f"{base}/out/part-0.txt") as handle:
        assert handle.read() == b"written by Beam"
    FileSystems.rename([f"{base}/out/part-0.txt"], [f"{base}/out/final.txt"])
    assert FileSystems.exists(f"{base}/out/final.txt")
    FileSystems.delete([f"{base}/out/final.txt"])
    assert not (tmp_path / "out" / "final.txt").exists()


@pytest.mark.parametrize("scheme", uris.SCHEMES)
def test_every_accepted_scheme_is_known_to_tensorflow_and_beam(scheme):
    import tensorflow as tf
    from apache_beam.io.filesystems import FileSystems

    import pipeline.file_scheme  # noqa: F401

    location = f"{scheme}:///bucket/folder" if scheme == "file" else f"{scheme}://bucket/f"
    assert FileSystems.get_filesystem(location).scheme() == scheme
    # gfile raises UnimplementedError for a scheme it has no filesystem for.
    tf.io.gfile.get_registered_schemes()
    assert scheme in tf.io.gfile.get_registered_schemes()


@pytest.mark.parametrize("location, words", [
    ("ftp://host/data", "the ftp:// scheme is not supported"),
    ("file://host/data", "file:///folder"),
    ("gs://", "name a folder"),
])
def test_unusable_uris_are_refused_in_one_sentence(location, words):
    with pytest.raises(uris.UnsupportedLocation, match=words):
        uris.checked(location, "--data-dir")


@pytest.mark.parametrize("flag", ["--data-dir", "--output-dir", "--serving-dir"])
def test_run_refuses_an_unsupported_scheme_with_exit_2(flag, tmp_path):
    result = cli_in_process("run", flag, "hdfs://cluster/folder", "--output-dir",
                            str(tmp_path / "out")) if flag != "--output-dir" else \
        cli_in_process("run", flag, "hdfs://cluster/folder")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip() == (f"error: {flag} hdfs://cluster/folder: the hdfs:// "
                                     "scheme is not supported; use a local path, file:// or "
                                     "gs://")
    assert not (tmp_path / "out").exists()


def test_show_refuses_an_unsupported_scheme_with_exit_2():
    result = cli_in_process("show", "--output-dir", "hdfs://cluster/folder")
    assert result.returncode == EXIT_USAGE
    assert "hdfs:// scheme is not supported" in result.stderr
    assert "Traceback" not in result.stderr


def test_uri_files_are_written_whole_and_read_back(tmp_path):
    target = f"file://{tmp_path}/a/b/record.json"
    uris.write_text(target, '{"x": 1}')
    assert uris.read_json(target) == {"x": 1}
    uris.write_text(target, '{"x": 2}')
    assert uris.read_json(target) == {"x": 2}
    # Written under a hidden temporary name and renamed: nothing else is left.
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["record.json"]
    with pytest.raises(FileNotFoundError):
        uris.read_bytes(f"file://{tmp_path}/missing.json")


def test_an_output_uri_keeps_metadata_and_lock_local(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_OUTPUT_DIR", tmp_path / "local")
    cfg = config.make_config(output_dir="file:///shared/runs/")
    locations = cfg.locations
    assert locations.output_uri == "file:///shared/runs"
    assert locations.pipeline_root_location == "file:///shared/runs/tfx"
    assert cfg.model_serving_location == "file:///shared/runs/serving/big_tipper"
    assert str(locations.report_dir) == "file:///shared/runs"
    # ML Metadata's SQLite file, the lock and the logs: a local folder, the same one
    # for every command given this URI.
    assert locations.output_dir.parent == tmp_path / "local" / "uri"
    assert locations.metadata_path.parent == locations.output_dir
    assert config.make_config(output_dir="file:///shared/runs").locations == locations
    assert (config.make_config(output_dir="file:///shared/other").locations.output_dir
            != locations.output_dir)


def test_data_checks_read_a_uri_folder(tmp_path):
    write_taxi_sample(tmp_path / "data", rows=20, span=1)
    write_taxi_sample(tmp_path / "data", rows=20, span=2)
    folder = uris.location(f"file://{tmp_path}/data", "--data-dir")
    assert isinstance(folder, uris.UriPath)
    assert data.check_data_dir(folder) == (1, 2)
    (csv_file,) = data.latest_csvs(folder, (1, 2))
    assert str(csv_file) == f"file://{tmp_path}/data/span-2/data.csv"
    data.check_label([csv_file], ("tips", "fare"), None, None)
    # A bad file is found through the URI as through a path.
    (tmp_path / "data" / "span-2" / "data.csv").write_bytes(b"fare,tips\n1,\xff\n")
    with pytest.raises(data.DataError, match="line 2 is not UTF-8"):
        data.check_data_dir(folder)


def test_file_uris_name_the_beam_plugin_for_worker_processes(tmp_path):
    cfg = config.make_config(output_dir=tmp_path / "out")
    uri_cfg = dataclasses.replace(cfg, locations=dataclasses.replace(
        cfg.locations, pipeline_root_uri=f"file://{tmp_path}/tfx"))
    plugin = f"--beam_plugins={FILE_SCHEME_PLUGIN}"

    def args(c, profile):
        return beam_pipeline_args(dataclasses.replace(
            c, beam=dataclasses.replace(c.beam, profile=profile)))

    assert plugin in args(uri_cfg, "multi-processing")
    assert plugin not in args(cfg, "multi-processing")
    # In memory the steps run in the launching process, which imported the plugin;
    # any argument would make TFX package itself (pipeline/beam.py).
    assert args(uri_cfg, "in-memory") == []


@pytest.mark.parametrize("plugin", [True, False])
def test_beam_worker_processes_know_file_uris_through_the_plugin(plugin, tmp_path):
    """What the multi-processing, portable and Dataflow profiles rely on: an SDK worker
    process knows file:// only when the plugin is named (the launching process, this
    one, has imported it either way)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    import pipeline.file_scheme  # noqa: F401

    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=1",
            *([f"--beam_plugins={FILE_SCHEME_PLUGIN}"] if plugin else [])]

    def write():
        with beam.Pipeline(options=PipelineOptions(args)) as pipeline:
            _ = (pipeline | beam.Create(["a", "b"])
                 | beam.io.WriteToText(f"file://{tmp_path}/out/part"))

    if not plugin:
        with pytest.raises(Exception, match="Unable to get filesystem"):
            write()
        return
    write()
    lines = [line for path in (tmp_path / "out").glob("part*")
             for line in path.read_text().split()]
    assert sorted(lines) == ["a", "b"]


def test_serving_side_reads_and_writes_a_uri_folder(tmp_path):
    model_dir = f"file://{tmp_path}/serving/big_tipper"
    for name in ("3", "12", ".staging-13-abc", "notes"):
        (tmp_path / "serving" / "big_tipper" / name).mkdir(parents=True)
    (tmp_path / "serving" / "big_tipper" / "14").write_text("a file, not a version")
    assert serving.versions(model_dir) == [3, 12]
    config_path = serving.models_config_path(model_dir)
    assert config_path == f"file://{tmp_path}/serving/models.config"
    serving.write_models_config(config_path, "big_tipper", model_dir, pinned=3)
    assert serving.pinned_versions(config_path, "big_tipper") == [3]
    text = (tmp_path / "serving" / "models.config").read_text()
    assert f'base_path: "{model_dir}"' in text


def test_a_moved_serving_folder_is_recorded_for_the_other_commands(tmp_path):
    from pipeline import workspace

    serving_uri = f"file://{tmp_path}/shared/serving"
    cfg = config.make_config(output_dir=tmp_path / "out", serving_uri=serving_uri)
    cfg.locations.output_dir.mkdir()
    workspace.claim_dataset(cfg)
    # What predict, show and rollback build their Config from.
    found = workspace.flag_config(str(tmp_path / "out"))
    assert str(found.model_serving_dir) == f"{serving_uri}/big_tipper"
    plain = config.make_config(output_dir=tmp_path / "plain")
    plain.locations.output_dir.mkdir()
    workspace.claim_dataset(plain)
    assert workspace.flag_config(str(tmp_path / "plain")).model_serving_dir == (
        tmp_path / "plain" / "serving" / "big_tipper")


def test_an_output_uri_that_cannot_be_written_is_refused_before_the_run(tmp_path):
    from pipeline import workspace

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    with pytest.raises(workspace.OutputDirError, match=f"cannot write to file://{blocked}/out"):
        workspace.check_writable(tmp_path / "local", f"file://{blocked}/out")
    workspace.check_writable(tmp_path / "local", f"file://{tmp_path}/out")
    # The probe is gone again.
    assert list((tmp_path / "out").iterdir()) == []


def test_a_store_error_reading_a_uri_is_an_os_error_and_one_sentence(tmp_path, monkeypatch):
    # TFX's filesystem layer turns only NotFound into an OSError: a PermissionDenied
    # from a bucket was a traceback wherever callers answer OSError in one sentence.
    import tensorflow as tf
    from tfx.dsl.io import fileio

    from models.features import SchemaError
    from pipeline.schema_file import load_schema

    (tmp_path / "schema.pbtxt").write_text("")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")

    def denied(*args, **kwargs):
        raise tf.errors.PermissionDeniedError(None, None, "caller has no access")

    monkeypatch.setattr(fileio, "open", denied)
    with pytest.raises(OSError, match="caller has no access"):
        uris.read_bytes(f"file://{tmp_path}/schema.pbtxt")
    with pytest.raises(OSError, match="caller has no access"):
        uris.UriPath(f"file://{tmp_path}/data.csv").open("rb")
    with pytest.raises(OSError, match="caller has no access"):
        uris.write_bytes(f"file://{tmp_path}/written.txt", b"x")
    with pytest.raises(SchemaError, match="cannot read the schema .*caller has no access"):
        load_schema(uris.UriPath(f"file://{tmp_path}/schema.pbtxt"))
