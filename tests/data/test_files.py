"""Output safety: atomic writes, once-built cache folders, run directories and resume settings."""

import json

import pytest

from voice_ft.data.files import (OutputExistsError, ResumeMismatchError, atomic_output, build_folder_once,
                                 prepare_run_dir, record_run_config, write_text_atomic)  # fmt: skip


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = write_text_atomic(tmp_path / "metrics.json", "old\n")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_output(path) as partial:
            partial.write_text("half a fi")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    with atomic_output(tmp_path / "model.keras") as partial:
        assert partial.name.endswith(".keras")  # Keras and matplotlib pick the format from the ending
        partial.write_text("new")
    assert (tmp_path / "model.keras").read_text() == "new"


def test_a_cache_folder_is_built_once_and_never_half(tmp_path):
    calls = []

    def write(folder):
        calls.append(folder)
        (folder / "weights.bin").write_text("w")

    ready = lambda f: (f / "weights.bin").exists()  # noqa: E731
    folder = build_folder_once(tmp_path / "cache" / "model-v1", ready, write)
    assert build_folder_once(folder, ready, write) == folder and len(calls) == 1

    def crash(folder):
        (folder / "weights.bin").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_folder_once(tmp_path / "cache" / "model-v2", ready, crash)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["model-v1"]


def test_run_directory_refuses_results_and_resume_under_other_settings(tmp_path):
    run_dir = prepare_run_dir(tmp_path / "run")
    assert record_run_config(run_dir, {"recipe": {"learning_rate": 1e-4}}) is False
    (run_dir / "backup").mkdir()  # an interrupted run
    assert record_run_config(run_dir, {"recipe": {"learning_rate": 1e-4}}) is True
    with pytest.raises(ResumeMismatchError, match=r"other settings \(recipe differ\)"):
        record_run_config(run_dir, {"recipe": {"learning_rate": 5e-4}})
    assert json.loads((run_dir / "config.json").read_text()) == {"recipe": {"learning_rate": 1e-4}}
    prepare_run_dir(run_dir, overwrite=True)  # starting over drops the backup
    assert not (run_dir / "backup").exists()
    (run_dir / "metrics.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="metrics.json"):
        prepare_run_dir(run_dir)
