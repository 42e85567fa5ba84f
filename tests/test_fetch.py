"""`drol fetch-data` against small fake dataset files served from 127.0.0.1 or file:// (never the internet), and
the workflow's handling of missing published data (one message, or fetch jobs with `data.download`)."""

import functools
import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from drol.cli import main
from drol.data.d4rl import D4RL_URLS, hdf5_path
from drol.data.fetch import fetch_command, resolve
from drol.data.ogbench import dataset_paths

CUBE = "cube-single-play-singletask-task1-v0"
PEN = "pen-human-v1"
UMAZE = "antmaze-umaze-v2"
UMAZE_FILE = "Ant_maze_u-maze_noisy_multistart_False_multigoal_False_sparse_fixed.hdf5"
FILE_BYTES = 300_000


class RangeServer(http.server.ThreadingHTTPServer):
    """Serves a directory over HTTP with Range requests (http.server has none); records each request's Range
    header, and can close every response after `cut_after` bytes (a dropped connection)."""

    def __init__(self, directory: Path):
        self.ranges: list[str | None] = []
        self.cut_after: int | None = None
        super().__init__(("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(directory)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (http.server's name)
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range")
        self.server.ranges.append(header)
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = int(re.fullmatch(r"bytes=(\d+)-", header)[1]) if header else 0
        if start >= len(data) and header:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.end_headers()
            return
        self.send_response(206 if header else 200)
        if header:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        cut = self.server.cut_after
        self.wfile.write(data[start:] if cut is None else data[start:start + cut])

    def log_message(self, *args):
        pass


def fake_bytes(name: str) -> bytes:
    """Distinct pseudo-random content per file name (the fetcher never parses it)."""
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)).bytes(FILE_BYTES)


@pytest.fixture
def mirror(tmp_path):
    """A directory holding fake copies of cube-single-play's two files and pen-human-v1's HDF5 file."""
    root = tmp_path / "mirror"
    root.mkdir()
    for name in ("cube-single-play-v0.npz", "cube-single-play-v0-val.npz", f"{PEN}.hdf5", UMAZE_FILE):
        (root / name).write_bytes(fake_bytes(name))
    return root


@pytest.fixture
def server(mirror):
    httpd = RangeServer(mirror)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """The OGBench and D4RL directories the tests name; the default ones are empty temporary directories too."""
    monkeypatch.delenv("DROL_DATA_URL", raising=False)
    monkeypatch.setenv("DROL_DATA_DIR", str(tmp_path / "default-ogbench"))
    monkeypatch.setenv("DROL_D4RL_DIR", str(tmp_path / "default-d4rl"))
    return tmp_path / "ogbench", tmp_path / "d4rl"


def fetch_data(*args, og: Path, d4: Path) -> int:
    return main(["fetch-data", *args, "--data-dir", str(og), "--d4rl-dir", str(d4), "--no-progress"])


def test_downloads_into_the_directories_the_loaders_read(server, mirror, dirs, capsys):
    og, d4 = dirs
    assert fetch_data("cube-single-play", PEN, "--base-url", server.url, og=og, d4=d4) == 0
    wanted = [*dataset_paths(CUBE, og), hdf5_path(PEN, d4)]  # where the OGBench and D4RL loaders look
    for path in wanted:
        content = (mirror / path.name).read_bytes()
        assert path.read_bytes() == content
        record = path.with_name(path.name + ".sha256").read_text()
        assert record == f"{hashlib.sha256(content).hexdigest()}  {path.name}\n"  # sha256sum -c format
    assert not list(og.glob("*.part")) + list(d4.glob("*.part"))
    assert capsys.readouterr().out.split() == [word for p in wanted for word in ("downloaded", str(p))]
    # A rerun finds every file present and asks the server nothing.
    requests = len(server.ranges)
    assert fetch_data("cube-single-play", PEN, "--base-url", server.url, og=og, d4=d4) == 0
    assert capsys.readouterr().out.split() == [word for p in wanted for word in ("present", str(p))]
    assert len(server.ranges) == requests == 3


def test_a_partial_download_resumes_with_a_range_request(server, mirror, dirs):
    og, d4 = dirs
    d4.mkdir()
    content = (mirror / f"{PEN}.hdf5").read_bytes()
    (d4 / f"{PEN}.hdf5.part").write_bytes(content[:100_000])
    assert fetch_data(PEN, "--base-url", server.url, og=og, d4=d4) == 0
    assert server.ranges == ["bytes=100000-"]
    assert (d4 / f"{PEN}.hdf5").read_bytes() == content and not (d4 / f"{PEN}.hdf5.part").exists()


def test_a_dropped_connection_keeps_the_part_and_a_rerun_completes_it(server, mirror, dirs, capsys):
    og, d4 = dirs
    server.cut_after = 120_000
    assert fetch_data(PEN, "--base-url", server.url, og=og, d4=d4) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{PEN}.hdf5" in error and "rerun `drol fetch-data` to resume" in error
    assert (d4 / f"{PEN}.hdf5.part").stat().st_size == 120_000 and not (d4 / f"{PEN}.hdf5").exists()
    server.cut_after = None
    assert fetch_data(PEN, "--base-url", server.url, og=og, d4=d4) == 0
    assert server.ranges == [None, "bytes=120000-"]
    assert (d4 / f"{PEN}.hdf5").read_bytes() == (mirror / f"{PEN}.hdf5").read_bytes()


def test_a_complete_part_is_renamed_without_downloading_again(server, mirror, dirs):
    og, d4 = dirs
    d4.mkdir()
    content = (mirror / f"{PEN}.hdf5").read_bytes()
    (d4 / f"{PEN}.hdf5.part").write_bytes(content)  # stopped between the last byte and the rename
    assert fetch_data(PEN, "--base-url", server.url, og=og, d4=d4) == 0
    assert server.ranges == [f"bytes={FILE_BYTES}-"] and (d4 / f"{PEN}.hdf5").read_bytes() == content


def test_file_urls_restart_a_part_they_cannot_resume(mirror, dirs):
    """file:// ignores Range: a stale .part (here of other bytes) is replaced by the whole file."""
    og, d4 = dirs
    og.mkdir()
    (og / "cube-single-play-v0.npz.part").write_bytes(b"x" * 5000)
    assert fetch_data("cube-single-play-v0", "--base-url", mirror.as_uri(), og=og, d4=d4) == 0
    for path in dataset_paths(CUBE, og):
        assert path.read_bytes() == (mirror / path.name).read_bytes()


def test_checksums_are_checked_for_downloads_and_present_files(server, mirror, dirs, tmp_path, capsys):
    og, d4 = dirs
    good = hashlib.sha256((mirror / f"{PEN}.hdf5").read_bytes()).hexdigest()
    bad = tmp_path / "bad.sha256"
    bad.write_text(f"{'0' * 64}  some/dir/{PEN}.hdf5\n")
    assert fetch_data(PEN, "--base-url", server.url, "--checksums", str(bad), og=og, d4=d4) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and str(d4 / f"{PEN}.hdf5") in error and "differs from the expected 0000" in error
    assert not (d4 / f"{PEN}.hdf5").exists() and not (d4 / f"{PEN}.hdf5.part").exists()
    sums = tmp_path / "good.sha256"
    sums.write_text(f"{good} *{PEN}.hdf5\n")  # sha256sum's binary-mode marker
    assert fetch_data(PEN, "--base-url", server.url, "--checksums", str(sums), og=og, d4=d4) == 0
    assert fetch_data(PEN, "--checksums", str(sums), og=og, d4=d4) == 0
    assert capsys.readouterr().out.split()[::2] == ["downloaded", "verified"]
    (d4 / f"{PEN}.hdf5").write_bytes(b"corrupt")
    assert fetch_data(PEN, "--checksums", str(sums), og=og, d4=d4) == 2
    assert "corrupt or another version: delete it" in capsys.readouterr().err


def test_http_errors_and_unreachable_hosts_are_one_line(server, dirs, capsys):
    og, d4 = dirs
    assert fetch_data("scene-play", "--base-url", server.url, og=og, d4=d4) == 2  # not on the server
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "HTTP 404" in error and "scene-play-v0.npz" in error and "--base-url" in error
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert fetch_data(PEN, "--base-url", f"http://127.0.0.1:{port}", og=og, d4=d4) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"cannot fetch {PEN}.hdf5 from 127.0.0.1:{port}" in error
    assert not list(d4.glob(f"{PEN}*"))


def test_unknown_target_exits_2_naming_the_choices(dirs, capsys):
    og, d4 = dirs
    assert fetch_data("cube-single-v9", og=og, d4=d4) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "unknown data target 'cube-single-v9'" in error and "d4rl-antmaze" in error


def test_dry_run_lists_each_file_and_its_published_url(dirs, capsys):
    og, d4 = dirs
    assert fetch_data("d4rl-antmaze", "--dry-run", og=og, d4=d4) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.startswith("missing ") for line in lines)
    assert f"missing    {d4 / UMAZE_FILE}  <-  {D4RL_URLS['antmaze']}/{UMAZE_FILE}" in lines
    assert not d4.exists()


def test_targets_resolve_to_the_files_of_their_tasks(dirs):
    og, d4 = dirs

    def names(*targets):
        return sorted(f.path.name for f in resolve(list(targets), str(og), str(d4)))

    assert len(names("ogbench")) == 20 and len(names("d4rl")) == 18 and names("toy") == []
    cube = ["cube-single-play-v0-val.npz", "cube-single-play-v0.npz"]
    assert names(CUBE) == names("cube-single-play") == names("cube-single-play-v0") == cube
    assert names("cube-single-play-v0-val.npz") == cube[:1] and names("d4rl-adroit-pen") == sorted(
        f"pen-{kind}-v1.hdf5" for kind in ("cloned", "expert", "human"))
    every = resolve(["ogbench", "d4rl"], str(og), str(d4))
    assert fetch_command(every) == f"drol fetch-data ogbench d4rl --data-dir {og} --d4rl-dir {d4}"
    assert fetch_command(resolve([CUBE, UMAZE], str(og), str(d4))) == (
        f"drol fetch-data {CUBE} {UMAZE} --data-dir {og} --d4rl-dir {d4}")


# ---------------------------------------------------------------------------------------------- workflow

def workflow_config(og: Path, d4: Path, download: bool) -> dict:
    return {"seeds": [0], "methods": ["FQL"], "tasks": {CUBE: None, UMAZE: None},
            "data": {"ogbench_dir": str(og), "d4rl_dir": str(d4), "download": download}}


@pytest.mark.slow
def test_workflow_without_data_names_each_url_and_the_command(tmp_path, dirs):
    from test_workflow import copy_workflow, snakemake

    og, d4 = dirs
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, workflow_config(og, d4, False), "--dry-run")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "3 dataset file(s) the config's runs read are missing:" in output
    assert f"    {D4RL_URLS['antmaze']}/{UMAZE_FILE}\n" in output
    assert f"`drol fetch-data {CUBE} {UMAZE} --data-dir {og} --d4rl-dir {d4}`" in output
    assert "`data: {download: true}`" in output


@pytest.mark.slow
def test_workflow_fetches_missing_data_as_jobs(tmp_path, dirs, server, mirror, monkeypatch):
    """`data.download: true`: one local job per missing file, before the training jobs that read it; once the
    files are there, no fetch job is planned again."""
    from test_workflow import copy_workflow, planned_jobs, snakemake

    og, d4 = dirs
    workdir = copy_workflow(tmp_path)
    config = workflow_config(og, d4, True)
    wanted = [*map(str, dataset_paths(CUBE, og)), str(d4 / UMAZE_FILE)]
    jobs = planned_jobs(workdir, config)
    assert jobs["fetch_ogbench"] == sorted(wanted[:2]) and jobs["fetch_d4rl"] == wanted[2:]
    monkeypatch.setenv("DROL_DATA_URL", server.url)  # the jobs inherit it
    result = snakemake(workdir, config, *wanted)
    assert result.returncode == 0, result.stderr[-3000:]
    for path in map(Path, wanted):
        assert path.read_bytes() == (mirror / path.name).read_bytes()
    assert "fetch_ogbench" not in planned_jobs(workdir, config) and server.ranges == [None] * 3
