"""Installing real mode's packages when every pytest-xdist worker asks at once: the
second apt-get must not run into the first one's lock (a fresh machine's clean run
skipped 114 real-mode tests that way)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from real.testhosts import packages

#: apt-get as far as these tests need it: it fails as apt does when another one holds
#: its lock, and ``install`` makes the package's command appear (and is logged).
FAKE_APT_GET = """#!/bin/sh
mkdir "$FAKE_APT_LOCK" 2>/dev/null || { echo "E: Could not get lock" >&2; exit 100; }
sleep 0.3
if [ "$1" = install ]; then
    printf '#!/bin/sh\\n' > "$FAKE_BIN/fakecmd" && chmod +x "$FAKE_BIN/fakecmd"
    echo installed >> "$FAKE_APT_LOG"
fi
rmdir "$FAKE_APT_LOCK"
"""


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with the fake apt-get and no ``fakecmd`` yet; returns its install log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt_get = bin_dir / "apt-get"
    apt_get.write_text(FAKE_APT_GET)
    apt_get.chmod(apt_get.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "installs.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_BIN", str(bin_dir))
    monkeypatch.setenv("FAKE_APT_LOCK", str(tmp_path / "apt.lock"))
    monkeypatch.setenv("FAKE_APT_LOG", str(log))
    monkeypatch.setattr(packages, "INSTALL_LOCK", str(tmp_path / "install.lock"))
    monkeypatch.setattr(packages.os, "geteuid", lambda: 0)
    return log


def test_callers_at_once_install_once_and_all_find_the_package(fake_apt: Path) -> None:
    wanted = {"fakepkg": "fakecmd"}
    errors: list[BaseException] = []

    def ensure() -> None:
        try:
            packages.ensure(wanted)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    callers = [threading.Thread(target=ensure) for _ in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert errors == []
    assert fake_apt.read_text().splitlines() == ["installed"]  # the rest waited and found it
    assert packages.missing(wanted) == []


def test_a_failed_install_says_what_apt_get_said(fake_apt: Path, tmp_path: Path) -> None:
    (tmp_path / "apt.lock").mkdir()  # held by an apt-get that is not ours
    with pytest.raises(packages.Unavailable, match="E: Could not get lock"):
        packages.ensure({"fakepkg": "fakecmd"})


def test_a_user_who_is_not_root_is_told_so_before_any_lock_or_apt_get(
    fake_apt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packages.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(packages, "INSTALL_LOCK", "/nonexistent/shoal-packages.lock")
    with pytest.raises(packages.Unavailable, match="not root: cannot install fakepkg"):
        packages.ensure({"fakepkg": "fakecmd"})
    assert not fake_apt.exists()
