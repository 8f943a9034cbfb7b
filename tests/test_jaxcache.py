"""The persistent XLA compilation cache (lrlaw._jaxcache)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import jaxlib
import pytest

from lrlaw import _jaxcache

ROOT = Path(__file__).resolve().parent.parent

_PROBE = (
    "import jax, lrlaw.laws.areas, lrlaw._jaxcache as c;"
    "print(c.cache_dir, jax.config.jax_compilation_cache_dir,"
    " jax.config.jax_persistent_cache_min_compile_time_secs)"
)


def probe(env: dict[str, str]) -> list[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("LRLAW_", "JAX_COMP"))}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**full, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.mark.slow
def test_cache_dir_is_versioned_and_under_xdg_cache_home(tmp_path) -> None:
    cache_dir, jax_dir, min_secs = probe({"XDG_CACHE_HOME": str(tmp_path)})
    expected = tmp_path / "lrlaw" / f"xla-{jax.__version__}-{jaxlib.__version__}"
    assert cache_dir == jax_dir == str(expected) and expected.is_dir()
    assert float(min_secs) == _jaxcache.MIN_COMPILE_SECS < 1.0


@pytest.mark.slow
def test_off_switch_and_user_setting_win(tmp_path) -> None:
    assert probe({"XDG_CACHE_HOME": str(tmp_path), "LRLAW_NO_XLA_CACHE": "1"})[:2] == [
        "None",
        "None",
    ]
    mine = str(tmp_path / "mine")
    env = {"XDG_CACHE_HOME": str(tmp_path), "JAX_COMPILATION_CACHE_DIR": mine}
    assert probe(env)[:2] == ["None", mine]
    assert not (tmp_path / "lrlaw").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_disables_the_cache(tmp_path) -> None:
    tmp_path.chmod(0o500)
    try:
        cache_dir, jax_dir, _ = probe({"XDG_CACHE_HOME": str(tmp_path)})
    finally:
        tmp_path.chmod(0o700)
    assert cache_dir == "None" and jax_dir == "None"


@pytest.mark.slow
def test_a_file_in_the_way_disables_the_cache(tmp_path) -> None:
    (tmp_path / "lrlaw").write_text("not a directory")  # fails for root as well
    cache_dir, jax_dir, _ = probe({"XDG_CACHE_HOME": str(tmp_path)})
    assert cache_dir == "None" and jax_dir == "None"
