"""`data fetch` against an HTTP server on 127.0.0.1 serving an archive built here from the published data."""

import functools
import http.server
import json
import tarfile
import threading

import pytest

from tests.conftest import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def archive_server(published, tmp_path_factory):
    folder = tmp_path_factory.mktemp("www")
    with tarfile.open(folder / "main.tar.gz", "w:gz", compresslevel=1) as tar:
        tar.add(published, arcname="Data-for-fcc-LaH-main")  # GitHub's archive layout: one top folder
    (folder / "junk.tar.gz").write_bytes(b"this is not an archive")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_into_the_cache_and_use_it(archive_server, published, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HYDROPIMD_DATA": ""}
    fetched = run_cli("data", "fetch", "--url", f"{archive_server}/main.tar.gz", "--json", "--quiet", env=env)
    assert fetched.returncode == 0, fetched.stderr
    dest = json.loads(fetched.stdout)["dest"]
    assert dest == str(tmp_path / "cache" / "hydropimd" / "lah10-published")
    # with no --data and no HYDROPIMD_DATA, the cache is the data location
    info = run_cli("data", "info", "--json", env=env)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["n_frames"] == 2779
    path = run_cli("data", "path", "models/subtracted/graph.pb", env=env)
    assert path.stdout.strip() == f"{dest}/models/subtracted/graph.pb"
    assert (published / "models/subtracted/graph.pb").read_bytes() == open(path.stdout.strip(), "rb").read()


def test_fetch_to_dest_and_failures(archive_server, tmp_path):
    ok = run_cli("data", "fetch", "--dest", tmp_path / "here", "--url", f"{archive_server}/main.tar.gz", "--quiet")
    assert ok.returncode == 0 and (tmp_path / "here" / "data" / "full" / "r3m" / "type.raw").exists()
    missing = run_cli("data", "fetch", "--dest", tmp_path / "x", "--url", f"{archive_server}/nothing.tar.gz", "--quiet")
    assert missing.returncode == 2 and "cannot download" in missing.stderr and "Traceback" not in missing.stderr
    junk = run_cli("data", "fetch", "--dest", tmp_path / "y", "--url", f"{archive_server}/junk.tar.gz", "--quiet")
    assert junk.returncode == 2 and "not a readable" in junk.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    nodata = run_cli("data", "info", env={"XDG_CACHE_HOME": str(tmp_path / "empty"), "HYDROPIMD_DATA": ""})
    assert nodata.returncode == 2 and "hydropimd data fetch" in nodata.stderr
    # an earlier fetch is replaced; a folder of the user's never is
    again = run_cli("data", "fetch", "--dest", tmp_path / "here", "--url", f"{archive_server}/main.tar.gz", "--quiet")
    assert again.returncode == 0, again.stderr
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    refused = run_cli("data", "fetch", "--dest", precious, "--url", f"{archive_server}/main.tar.gz", "--quiet")
    assert_one_line_error(refused, "not an earlier 'hydropimd data fetch'")
    assert (precious / "thesis.tex").read_text() == "years of work"
    assert_one_line_error(run_cli("data", "fetch", "--dest", tmp_path / "z", "--url", "notaurl", "--quiet"), "cannot download")
    assert_one_line_error(run_cli("data", "fetch", "--dest", tmp_path / "z", "--url", "", "--quiet"), "--url is empty")
