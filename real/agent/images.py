"""The local busybox image: ``docker import`` of a rootfs made in memory.

There is no registry here, so the image every real-mode test and test host runs is
built from Debian's static busybox: the binary plus a symlink per applet, a minimal
``/etc/passwd`` so that ``--user nobody`` resolves, and ``CMD ["sleep", "100000"]``.
Each tag is imported with its own ``ENV SHOAL_IMAGE=<tag>`` so that the tags are
distinct images (``service update --image`` then really changes the image).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from typing import Any

from real.testhosts.packages import BUSYBOX

REPOSITORY = "local/busybox"
TAGS = ("1", "2")
IMAGE = f"{REPOSITORY}:{TAGS[0]}"
SECOND_IMAGE = f"{REPOSITORY}:{TAGS[1]}"

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def rootfs_tar(busybox: str = BUSYBOX) -> bytes:
    """A tar of a root filesystem: ``/bin/busybox`` and its applets' symlinks."""
    with open(busybox, "rb") as f:
        binary = f.read()
    listed = subprocess.run(
        [busybox, "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "root"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        _add_file(tar, "bin/busybox", binary, 0o755)
        _add_file(tar, "etc/passwd", _PASSWD, 0o644)
        _add_file(tar, "etc/group", _GROUP, 0o644)
        for applet in sorted(set(listed)):
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type = tarfile.SYMTYPE
            link.linkname = "/bin/busybox"
            tar.addfile(link)
    return buffer.getvalue()


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def ensure_busybox_image(
    client: Any, repository: str = REPOSITORY, tags: tuple[str, ...] = TAGS
) -> list[str]:
    """Import ``repository:<tag>`` for each tag the daemon lacks; the image names.

    Idempotent: a tag already present is left alone. ``client`` is a
    ``docker.DockerClient``.
    """
    import docker.errors

    names = []
    rootfs: bytes | None = None
    for tag in tags:
        name = f"{repository}:{tag}"
        names.append(name)
        try:
            client.images.get(name)
            continue
        except docker.errors.ImageNotFound:
            pass
        if rootfs is None:
            rootfs = rootfs_tar()
        client.api.import_image_from_data(
            rootfs,
            repository=repository,
            tag=tag,
            changes=[
                f"ENV PATH={_PATH}",
                f"ENV SHOAL_IMAGE={tag}",
                'CMD ["sleep", "100000"]',
            ],
        )
    return names
