"""The one interface of the three suites (drol.data.Suite): names, data status and paths, identity, loading."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from drol.cli import main
from drol.data import (
    DATA_STATUSES,
    SUITES,
    DataError,
    DataSettings,
    all_suites,
    get_suite,
    load_task_data,
    suite_of,
)
from drol.tasks import TOY_TASK, UnknownName, get_task, registry

CUBE = "cube-single-play-singletask-task1-v0"
HUMANOID = "humanoidmaze-medium-navigate-singletask-task1-v0"
UMAZE = "antmaze-umaze-v2"


def test_every_registered_task_maps_to_its_suite():
    tasks = list(registry().values())
    assert {t.suite for t in tasks} == set(SUITES)
    for task in tasks:
        suite = suite_of(task)
        assert suite is get_suite(task.suite) is suite_of(task.name)  # one instance per suite
        assert suite.name == task.suite
        assert task.scorer == suite.scorer_name in ("success", "normalized_return")
        assert isinstance(task.episode_limit, int) and task.episode_limit >= 1
    assert [s.name for s in all_suites()] == list(SUITES)
    assert {t.scorer for t in tasks if t.suite == "d4rl"} == {"normalized_return"}
    assert get_task(TOY_TASK).episode_limit == 1 and get_task(UMAZE).episode_limit == 700
    with pytest.raises(UnknownName, match="unknown suite 'atari'; choose from ogbench, d4rl, toy"):
        get_suite("atari")


@pytest.mark.parametrize("name, family, stem", [
    (CUBE, "cube-single-play", "cube-single-play-v0"),
    ("cube-single-play-singletask-v0", "cube-single-play", "cube-single-play-v0"),
    ("cube-single-play-v0", "cube-single-play", "cube-single-play-v0"),
    ("cube-single-play", "cube-single-play", "cube-single-play-v0"),
    ("puzzle-4x4-play-singletask-task5-v0", "puzzle-4x4-play", "puzzle-4x4-play-v0"),
    ("pointmaze-giant-navigate-singletask-task3-v0", "pointmaze-giant-navigate", "pointmaze-giant-navigate-v0"),
    (HUMANOID, "humanoidmaze-medium-navigate", "humanoidmaze-medium-navigate-v0"),
    ("antmaze-large-navigate-singletask-task1-v1", "antmaze-large-navigate", "antmaze-large-navigate-v1"),
])
def test_one_ogbench_name_parser(name, family, stem):
    from drol.data import generate, ogbench

    assert ogbench.split_name(name) == (family, stem)
    assert ogbench.dataset_stem(name) == stem
    assert generate.split_name is ogbench.split_name  # gen-data parses names with the same function
    if not name.endswith("-v1"):
        assert generate.dataset_name_for(name) == stem


def test_every_ogbench_task_reads_its_familys_files(tmp_path):
    settings = DataSettings(data_dir=str(tmp_path))
    for task in registry().values():
        if task.suite == "ogbench":
            paths = get_suite("ogbench").dataset_paths(task, settings)
            stem = f"{task.family}-v0"
            assert paths == [tmp_path / f"{stem}.npz", tmp_path / f"{stem}-val.npz"], task.name


def test_data_status_of_each_suite(tmp_path, monkeypatch):
    monkeypatch.setenv("DROL_DATA_DIR", str(tmp_path / "default-ogbench"))
    monkeypatch.setenv("DROL_D4RL_DIR", str(tmp_path / "default-d4rl"))
    here = DataSettings(data_dir=str(tmp_path))
    cube, humanoid, umaze, toy = (get_task(n) for n in (CUBE, HUMANOID, UMAZE, TOY_TASK))

    assert suite_of(toy).data_status(toy, here) == "built in"
    assert suite_of(toy).dataset_paths(toy, here) == []
    assert suite_of(cube).data_status(cube, here) == "regenerable"
    assert suite_of(humanoid).data_status(humanoid, here) == "download only"
    assert suite_of(umaze).data_status(umaze, here) == "download only"

    cube_files = suite_of(cube).dataset_paths(cube, here)
    cube_files[0].touch()
    assert suite_of(cube).data_status(cube, here) == "regenerable"  # the -val file is missing too
    cube_files[1].touch()
    assert suite_of(cube).data_status(cube, here) == "present"
    for path in suite_of(humanoid).dataset_paths(humanoid, here):
        path.touch()
    assert suite_of(humanoid).data_status(humanoid, here) == "present"
    [hdf5] = suite_of(umaze).dataset_paths(umaze, here)
    assert hdf5.parent == tmp_path and hdf5.suffix == ".hdf5"
    hdf5.touch()
    assert suite_of(umaze).data_status(umaze, here) == "present"
    assert {suite_of(t).data_status(t, here) for t in (cube, humanoid, umaze, toy)} <= set(DATA_STATUSES)

    # Without a data directory each suite looks in its own default; the d4rl/minari routes name no files.
    default = DataSettings()
    assert suite_of(cube).dataset_paths(cube, default)[0].parent == tmp_path / "default-ogbench"
    assert suite_of(umaze).dataset_paths(umaze, default)[0].parent == tmp_path / "default-d4rl"
    assert suite_of(umaze).dataset_paths(umaze, DataSettings(data_dir=str(tmp_path), d4rl_route="minari")) == []


def test_drol_tasks_shows_the_suites_data_status(tmp_path, capsys):
    for path in get_suite("ogbench").dataset_paths(get_task(CUBE), DataSettings(data_dir=str(tmp_path))):
        path.touch()
    assert main(["tasks", "--family", "cube-single-play", "--data-dir", str(tmp_path)]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 5 and all(row.endswith("present") for row in rows)  # the five tasks share the file
    assert main(["tasks", "--suite", "toy"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1].endswith("built in")
    assert main(["tasks", "--suite", "atari"]) == 2  # not one of the choices --help lists
    assert main(["tasks", "--suite", "toy", "--family", "cube-single-play"]) == 2


def test_data_identity_holds_only_what_changes_the_data():
    toy, d4rl, ogbench = get_suite("toy"), get_suite("d4rl"), get_suite("ogbench")
    plain = DataSettings()
    moved = DataSettings(data_dir="/elsewhere", offline=False)  # where the files are: never identity
    for settings in (plain, moved):
        assert toy.data_identity(settings) == {}
        assert d4rl.data_identity(settings) == {"d4rl_route": "hdf5"}
        assert ogbench.data_identity(settings) == {}
    assert d4rl.data_identity(replace(plain, d4rl_route="minari")) == {"d4rl_route": "minari"}
    assert ogbench.data_identity(replace(plain, d4rl_route="minari")) == {}
    regen = replace(moved, regenerated={"episodes": 20, "seed": 0})
    assert ogbench.data_identity(regen) == {"regenerated": {"episodes": 20, "seed": 0}}
    assert toy.data_identity(regen) == {} and d4rl.data_identity(regen) == {"d4rl_route": "hdf5"}
    # DataSettings.identity asks the task's suite.
    assert regen.identity(CUBE) == {"regenerated": {"episodes": 20, "seed": 0}}
    assert regen.identity(UMAZE) == {"d4rl_route": "hdf5"} and regen.identity(get_task(TOY_TASK)) == {}


@pytest.fixture(scope="module")
def regen_root(tmp_path_factory):
    """`drol gen-data` of one cube-single episode (plus its -val episode) into the workflow's directory name."""
    pytest.importorskip("ogbench")
    root = tmp_path_factory.mktemp("data")
    data_dir = root / "ogbench-regen-e1-s3"
    assert main(["gen-data", CUBE, "--episodes", "1", "--seed", "3", "--data-dir", str(data_dir),
                 "--no-progress"]) == 0
    return root, data_dir


def test_regenerated_settings_come_from_the_sidecar(regen_root, tmp_path):
    from drol.workflow import _data_options

    root, data_dir = regen_root
    meta = json.loads((data_dir / "cube-single-play-v0.npz.json").read_text())
    assert meta["settings"]["episodes"] == 1 and meta["settings"]["seed"] == 3

    by_hand = DataSettings(data_dir=str(data_dir)).for_task(CUBE)
    assert by_hand.regenerated == {"episodes": 1, "seed": 3}
    config = {"data": {"root": str(root), "regenerate": {"episodes": 1, "seed": 3}}}
    planned = _data_options(config, CUBE)
    assert planned.data_dir == str(data_dir) and planned.regenerated == {"episodes": 1, "seed": 3}
    assert by_hand.identity(CUBE) == planned.identity(CUBE) == {"regenerated": {"episodes": 1, "seed": 3}}

    # A downloaded file has no sidecar; settings that already say how the data was made are kept.
    assert DataSettings(data_dir=str(tmp_path)).for_task(CUBE).regenerated is None
    given = DataSettings(data_dir=str(data_dir), regenerated={"episodes": 1000, "seed": 0})
    assert given.for_task(CUBE) == given
    # The other suites have no sidecars: their settings are complete as given.
    assert DataSettings(data_dir=str(data_dir)).for_task(TOY_TASK) == DataSettings(data_dir=str(data_dir))

    # The workflow pointed at a directory of regenerated files (not regenerating itself) agrees too.
    from_dir = _data_options({"data": {"ogbench_dir": str(data_dir)}}, CUBE)
    assert from_dir.identity(CUBE) == by_hand.identity(CUBE)


def test_malformed_sidecar_names_the_file_and_the_fix(tmp_path):
    files = get_suite("ogbench").dataset_paths(get_task(CUBE), DataSettings(data_dir=str(tmp_path)))
    for path in files:
        path.touch()
    sidecar = tmp_path / "cube-single-play-v0.npz.json"
    for text in ("{not json", json.dumps({"settings": {"episodes": 2}}), "[1, 2]"):
        sidecar.write_text(text)
        with pytest.raises(DataError, match=r"cube-single-play-v0\.npz\.json.*drol gen-data"):
            DataSettings(data_dir=str(tmp_path)).for_task(CUBE)


def test_workflow_data_options_per_suite(tmp_path):
    from drol.workflow import _data_options, regenerate

    config = {"data": {"ogbench_dir": str(tmp_path / "og"), "d4rl_dir": str(tmp_path / "d4"),
                       "d4rl_route": "minari"}}
    assert _data_options(config, CUBE) == DataSettings(data_dir=str(tmp_path / "og"))
    assert _data_options(config, UMAZE) == DataSettings(data_dir=str(tmp_path / "d4"), d4rl_route="minari")
    assert _data_options(config, TOY_TASK) == DataSettings()
    regen = {"data": {"regenerate": {"episodes": 5, "seed": 1}}}
    assert regenerate(regen, CUBE) and not regenerate(regen, HUMANOID) and not regenerate(regen, UMAZE)
    assert not regenerate(regen, TOY_TASK) and not regenerate(config, CUBE)
    assert _data_options(regen, CUBE) == DataSettings(data_dir="data/ogbench-regen-e5-s1",
                                                      regenerated={"episodes": 5, "seed": 1})
    assert _data_options(regen, HUMANOID) == DataSettings()


def test_workflow_lists_missing_download_only_files(tmp_path):
    from drol.data.d4rl import D4RL_URLS, d4rl_spec
    from drol.workflow import dataset_inputs, fetch_rules, missing_data_message, missing_downloads

    def run(task, settings):
        return SimpleNamespace(spec=SimpleNamespace(task=task), data=settings)

    here = DataSettings(data_dir=str(tmp_path))
    humanoid, umaze = run(HUMANOID, here), run(UMAZE, here)
    regenerated = run(CUBE, replace(here, regenerated={"episodes": 1, "seed": 0}))
    toy = run(TOY_TASK, here)
    assert dataset_inputs(toy) == [] and dataset_inputs(run(UMAZE, replace(here, d4rl_route="d4rl"))) == []
    assert dataset_inputs(regenerated) == [str(tmp_path / "cube-single-play-v0.npz"),
                                           str(tmp_path / "cube-single-play-v0-val.npz")]
    missing = missing_downloads([humanoid, umaze, regenerated, toy, humanoid])
    # OGBench's files first (the suites' order), each once, then D4RL's.
    assert [str(f.path) for f in missing] == sorted(dataset_inputs(humanoid)) + dataset_inputs(umaze)
    umaze_file = d4rl_spec(UMAZE).hdf5_file
    ogbench = "https://rail.eecs.berkeley.edu/datasets/ogbench"
    assert missing_data_message(missing) == "\n".join([
        "3 dataset file(s) the config's runs read are missing:",
        f"  into {tmp_path}:",
        f"    {ogbench}/humanoidmaze-medium-navigate-v0-val.npz",
        f"    {ogbench}/humanoidmaze-medium-navigate-v0.npz",
        f"    {D4RL_URLS['antmaze']}/{umaze_file}",
        f"Fetch them with `drol fetch-data {HUMANOID} {UMAZE} --data-dir {tmp_path} --d4rl-dir {tmp_path}`, or set "
        "`data: {download: true}` in the config to fetch them as workflow jobs, or remove those tasks from the "
        "config."])
    assert fetch_rules(missing) == {
        "ogbench": (str(tmp_path), ["humanoidmaze-medium-navigate-v0-val.npz", "humanoidmaze-medium-navigate-v0.npz"]),
        "d4rl": (str(tmp_path), [umaze_file])}
    for file in missing:
        file.path.touch()
    assert missing_downloads([humanoid, umaze, regenerated, toy]) == []


def test_load_goes_through_the_suite():
    toy = get_task(TOY_TASK)
    data = load_task_data(toy, "cpu", DataSettings())
    assert data.route == "toy" and len(data.train) == 20_000 and len(data.val) == 2_000
    assert data.scorer is suite_of(toy).scorer(toy)
    np.testing.assert_array_equal(data.scorer(np.array([0.5, 1.0]), np.array([False, True])), [0.0, 100.0])
    # Keyword options still build the settings (and give the same data).
    assert load_task_data(toy, data_dir=None).train.fingerprint == data.train.fingerprint
