"""The private-file helpers set modes exactly (0600 files, 0700 folders) whatever the umask,
leave folders they did not create alone, and replace files atomically."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from solbot.logs import log_to_file
from solbot.private_files import (
    create_private,
    private_dir,
    private_file,
    replacing,
    write_private,
)


@pytest.fixture(params=[0o022, 0o000, 0o277], ids=["umask-022", "umask-000", "umask-277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_folders_are_created_0700_and_existing_ones_are_left_alone(
    tmp_path: Path, umask: int
) -> None:
    tmp_path.chmod(0o755)
    folder = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (folder, folder.parent, folder.parent.parent)] == [0o700] * 3
    assert mode(tmp_path) == 0o755
    assert private_dir(folder) == folder  # again: nothing to do
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        private_dir(tmp_path / "file")


def test_a_written_file_is_0600_replaces_the_old_one_and_leaves_no_temporary_file(
    tmp_path: Path, umask: int
) -> None:
    target = tmp_path / "new" / "state.json"
    write_private(target, "one")
    assert (target.read_text(), mode(target), mode(target.parent)) == ("one", 0o600, 0o700)
    target.chmod(0o644)  # a file an older version left readable
    write_private(target, b"two", durable=False)
    assert (target.read_text(), mode(target)) == ("two", 0o600)

    def crash_half_way() -> None:
        with replacing(target) as handle:
            handle.write(b"thr")
            raise InterruptedError

    with pytest.raises(InterruptedError):
        crash_half_way()
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


def test_a_created_file_is_new_and_0600(tmp_path: Path, umask: int) -> None:
    with create_private(tmp_path / "key.json") as handle:
        handle.write(b"secret")
    assert mode(tmp_path / "key.json") == 0o600
    with pytest.raises(FileExistsError):
        create_private(tmp_path / "key.json")
    assert (tmp_path / "key.json").read_bytes() == b"secret"


def test_a_file_written_by_someone_else_is_made_or_kept_0600(tmp_path: Path, umask: int) -> None:
    log = private_file(tmp_path / "logs" / "solbot.log")
    assert (log.read_text(), mode(log), mode(log.parent)) == ("", 0o600, 0o700)
    log.write_text("kept")
    log.chmod(0o644)
    private_file(log)
    assert (log.read_text(), mode(log)) == ("kept", 0o600)


def test_the_log_file_is_0600_when_it_is_first_written(tmp_path: Path, umask: int) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        log_to_file(tmp_path / "logs" / "solbot.log", delay=True)
        assert not (tmp_path / "logs").exists()  # nothing to log yet: nothing made
        logging.getLogger("solbot.test").warning("first line")
        for handler in root.handlers:
            handler.flush()
        assert mode(tmp_path / "logs" / "solbot.log") == 0o600
        assert mode(tmp_path / "logs") == 0o700
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
