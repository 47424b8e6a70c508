"""A task's network namespace, made before its container: a small "pause" container
joined to the task's overlay networks and, for host-mode published ports, to the
host (real/agent/hostports.py), whose namespace the task's container then
shares (``network_mode=container:<sandbox>``).

Docker builds a container's network before its process runs (a prestart hook that
libnetwork answers); dockerd's API offers no such hook, and a task container started
with no network and plumbed afterwards would run for a moment with no interface.
A sandbox container started first, then plumbed, then shared, leaves no such moment
(real-backend.md §3). It runs busybox's ``sleep`` under tini, is labelled with its
task's id, resolves names through the embedded DNS (127.0.0.11, ``ndots:0``) and
carries the task's hostname (Docker's default is the task container's id; a sandbox
made before that id exists takes the task id's first 12 characters instead).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import docker.errors

from core.dataplane.state import RESOLVER_ADDRESS
from core.model.service import PortConfig
from core.model.task import Task
from real.agent.dataplane import HostDataplane
from real.agent.images import IMAGE, ensure_busybox_image

#: The label that marks a sandbox container, with its task's id.
SANDBOX_TASK = "com.shoal.sandbox.task"
#: A sandbox sleeps for as long as its task lives (about 68 years).
SLEEP = ["sleep", "2147483647"]


def sandbox_name(task: Task) -> str:
    return f"shoal-sandbox.{task.id}"


def create_sandbox(api: Any, task: Task, image: str = IMAGE) -> str:
    """Create (not start) the sandbox container of ``task`` through ``api`` (a
    ``docker.APIClient``): its id. A name taken raises dockerd's 409."""
    spec = task.spec.container_spec
    dns = spec.dns_config if spec is not None else None
    # Off overlay networks there is no embedded DNS: the spec's servers, if any.
    embedded = bool(task.networks_attachments)
    servers = list(dns.nameservers) if dns is not None else []
    host_config = api.create_host_config(
        network_mode="none",
        init=True,
        dns=[RESOLVER_ADDRESS] if embedded else servers or None,
        dns_opt=[*(["ndots:0"] if embedded else []), *(dns.options if dns else ())] or None,
        dns_search=list(dns.search) or None if dns is not None else None,
    )
    created = api.create_container(
        image=image,
        command=SLEEP,
        name=sandbox_name(task),
        hostname=(spec.hostname if spec is not None else "") or task.id[:12],
        labels={SANDBOX_TASK: task.id},
        host_config=host_config,
        detach=True,
    )
    return str(created["Id"])


class Sandboxes:
    """One host's task sandboxes, through its dockerd (``client`` is a
    ``docker.DockerClient``)."""

    def __init__(self, client: Any, dataplane: HostDataplane, image: str = IMAGE) -> None:
        self.client = client
        self.api = client.api
        self.dataplane = dataplane
        self.image = image
        self._image_ready = False
        self._lock = threading.Lock()

    def needed(self, task: Task, ports: Sequence[PortConfig] = ()) -> bool:
        """A task on overlay networks or with host-mode ``ports`` gets a sandbox."""
        return bool(task.networks_attachments) or bool(ports)

    def ensure(self, task: Task, ports: Sequence[PortConfig] = ()) -> str:
        """The running sandbox of ``task``, joined to its networks and publishing its
        host-mode ``ports`` (bound numbers): made, started and plumbed if it is not
        there yet (idempotent). Its container id."""
        attrs = self._find(task.id)
        if attrs is None:
            self._ensure_image()
            try:
                cid = create_sandbox(self.api, task, self.image)
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: made by an earlier, lost attempt
                    raise
                found = self._find(task.id)
                if found is None:
                    raise
                cid = str(found["Id"])
        else:
            cid = str(attrs["Id"])
        if attrs is not None and attrs["State"]["Running"] and self.dataplane.has_joined(task.id):
            return cid  # plumbed already, in this life of the agent
        self.api.start(cid)  # a running one: dockerd answers 304, the SDK nothing
        pid = int(self.api.inspect_container(cid)["State"]["Pid"])
        self.dataplane.attach(task, f"/proc/{pid}/ns/net", ports)
        return cid

    def remove(self, task_id: str) -> None:
        """The task is gone: its sandbox goes, and its DNS with it (idempotent)."""
        self.dataplane.detach(task_id)
        attrs = self._find(task_id)
        if attrs is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.api.remove_container(str(attrs["Id"]), force=True)

    def adopt(self, owned_task_ids: set[str]) -> None:
        """After an agent restart: the sandboxes of tasks it no longer owns go (the
        others are plumbed again when their task is prepared or inspected: the
        devices, DNS server and host ports of the agent's last life are not trusted)."""
        listed = self.api.containers(all=True, filters={"label": SANDBOX_TASK})
        for summary in sorted(listed, key=lambda c: str(c["Id"])):
            task_id = str((summary.get("Labels") or {}).get(SANDBOX_TASK, ""))
            if task_id not in owned_task_ids:
                with contextlib.suppress(docker.errors.NotFound):
                    self.api.remove_container(str(summary["Id"]), force=True)

    def _find(self, task_id: str) -> dict[str, Any] | None:
        listed = self.api.containers(all=True, filters={"label": f"{SANDBOX_TASK}={task_id}"})
        if not listed:
            return None
        cid = str(sorted(listed, key=lambda c: str(c["Id"]))[0]["Id"])
        try:
            found: dict[str, Any] = self.api.inspect_container(cid)
            return found
        except docker.errors.NotFound:
            return None

    def _ensure_image(self) -> None:
        with self._lock:
            if not self._image_ready:
                ensure_busybox_image(self.client)
                self._image_ready = True
