"""``LabSupervisor.attach`` (``flowlab up --attach``), the orchestrator of the compose
deployment: it supervises services it did not start. These tests start one real recorder process
on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from config.runconfig import RunConfig, write_run_config
from config.scenario import load_scenario
from orchestration.endpoints import resolve_loopback
from orchestration.launcher import LabError, LabSupervisor, RemoteProcess
from services.security import create_keys
from tests.helpers import pid_alive, wait_until


def _recorder_only_config(run_dir: Path) -> tuple[RunConfig, Path]:
    config = resolve_loopback(load_scenario(), run_dir)
    recorder = config.service(config.scenario.recorder)
    config = msgspec.structs.replace(config, services=[recorder])
    path = run_dir / "services.toml"
    write_run_config(config, path)
    create_keys(config)  # what `flowlab keys --config` does before compose starts services
    return config, path


def _start_service(
    path: Path, name: str, role: str, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration.cli",
                "service",
                role,
                "--config",
                str(path),
                "--name",
                name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env={**os.environ, **(env or {})},
        )


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def _probe(ready: Path) -> subprocess.CompletedProcess[str]:
    """``flowlab ready``, the image's HEALTHCHECK, as a process of its own."""
    command = [sys.executable, "-m", "orchestration.cli", "ready", "--file", str(ready)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


async def test_service_ready_file_probe_healthy_while_running_not_after_stop(
    tmp_path: Path,
) -> None:
    config, path = _recorder_only_config(tmp_path)
    ready = tmp_path / "recorder.ready"
    env = {"FLOWLAB_READY_FILE": str(ready)}  # as the image sets it
    service = _start_service(path, "recorder", "recorder", tmp_path / "recorder.log", env)
    lab = LabSupervisor.attach(config)
    try:
        await asyncio.wait_for(lab.start(), 60)
        running = await asyncio.to_thread(_probe, ready)
    finally:
        await lab.stop()
        await asyncio.to_thread(service.wait, 30)
        _reap(service)
    stopped = await asyncio.to_thread(_probe, ready)

    assert running.returncode == 0, running.stderr
    assert running.stdout == f"ready: recorder recorder {service.pid}\n"
    assert stopped.returncode == 1 and "does not exist" in stopped.stderr
    assert not ready.exists()


async def test_lab_attach_started_service_ready_tracked_stopped_without_spawning(
    tmp_path: Path,
) -> None:
    config, path = _recorder_only_config(tmp_path)
    service = _start_service(path, "recorder", "recorder", tmp_path / "recorder.log")
    lab = LabSupervisor.attach(config)
    try:
        await asyncio.wait_for(lab.start(), 60)
        proc = lab.procs["recorder"]
        assert isinstance(proc.process, RemoteProcess)
        assert proc.pid == service.pid and proc.ready.is_set()
        assert lab.run_dir == tmp_path and lab.config == config
    finally:
        codes = await lab.stop()
        await asyncio.to_thread(service.wait, 30)
        _reap(service)

    assert codes == {"recorder": 0}
    assert service.returncode == 0


async def test_lab_attach_service_stops_on_its_own_fails_lab_naming_it(tmp_path: Path) -> None:
    config, path = _recorder_only_config(tmp_path)
    service = _start_service(path, "recorder", "recorder", tmp_path / "recorder.log")
    lab = LabSupervisor.attach(config)
    try:
        await asyncio.wait_for(lab.start(), 60)
        service.send_signal(signal.SIGTERM)
        with pytest.raises(LabError, match="recorder"):
            await lab.guard(asyncio.sleep(30))
    finally:
        await lab.stop()
        _reap(service)


def test_cli_up_attach_sigterm_stops_attached_services_and_exits(tmp_path: Path) -> None:
    _config, path = _recorder_only_config(tmp_path)
    service = _start_service(path, "recorder", "recorder", tmp_path / "recorder.log")
    with (tmp_path / "orchestrator.log").open("ab") as out:
        orchestrator = subprocess.Popen(
            [
                *[sys.executable, "-m", "orchestration.cli", "up", "--attach"],
                *["--config", str(path), "--runs", str(tmp_path / "runs")],
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        assert wait_until(lambda: (tmp_path / "lab.json").exists(), timeout=60), "not attached"
        assert json.loads((tmp_path / "lab.json").read_text())["processes"][0]["pid"] == service.pid

        orchestrator.send_signal(signal.SIGTERM)

        assert service.wait(timeout=30) == 0
        orchestrator.wait(timeout=30)
        assert not (tmp_path / "lab.json").exists()
        assert not pid_alive(service.pid)
    finally:
        _reap(orchestrator)
        _reap(service)
