"""The tools the deployment tests need arrive by `kgo infra compose` / `kgo infra kustomize`:
cached once there, one clear sentence when they cannot be had."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgo_cli.infra import PrereqError, prereqs, tools
from kgo_runtime.settings import InfraSettings

pytestmark = pytest.mark.unit


def test_docker_compose_missing_without_root_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrereqError, match=r"apt-get install -y docker-compose") as caught:
        prereqs.ensure_docker_compose(tmp_path / "docker-compose")
    assert "\n" not in str(caught.value)


def test_docker_compose_present_is_returned_as_is(tmp_path: Path) -> None:
    present = tmp_path / "docker-compose"
    present.touch()
    assert prereqs.ensure_docker_compose(present) == present


def test_kustomize_is_built_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = InfraSettings(cache_dir=tmp_path)
    cached = tools.kustomize_path(settings)
    assert cached == tmp_path / "bin" / f"kustomize-{tools.KUSTOMIZE_VERSION}"
    cached.parent.mkdir(parents=True)
    cached.touch()
    monkeypatch.setattr("shutil.which", lambda *_a, **_k: pytest.fail("no build when cached"))
    assert tools.ensure_kustomize(settings) == cached


def test_kustomize_without_go_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda *_a, **_k: None)
    with pytest.raises(PrereqError, match=r"`go` is missing"):
        tools.ensure_kustomize(InfraSettings(cache_dir=tmp_path))
