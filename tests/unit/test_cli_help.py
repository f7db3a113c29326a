"""``flowlab``'s parser explains itself: help on a bare call, ``--version``, every option's help
with its default and valid values, names in any case with a "did you mean" on a typo."""

from __future__ import annotations

import argparse
import os
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from config.scenario import REGIMES
from orchestration import cli
from services.main import probe_ready


def _verb_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
    ]


def test_cli_bare_flowlab_prints_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main([])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("usage: flowlab")
    for verb in _verb_parsers():
        assert verb in out


def test_cli_version_prints_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"flowlab {version('flowlab')}"


def test_cli_every_option_has_help_naming_its_default() -> None:
    missing = []
    for verb, parser in _verb_parsers().items():
        formatter = parser._get_formatter()
        for action in _options(parser):
            flags = f"{verb} {action.option_strings[0]}"
            text = formatter._get_help_string(action) if action.help else ""  # type: ignore[attr-defined]
            if not text:
                missing.append(f"{flags}: no help")
            elif action.nargs != 0 and not action.required and "default" not in text:
                missing.append(f"{flags}: help does not say its default")

    assert missing == []


def test_cli_verb_help_renders_defaults_and_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])

    out = " ".join(capsys.readouterr().out.split())  # undo the help's line wrapping
    assert "(default: 5.0)" in out  # --settle
    assert "{random,sequential}" in out and "(default: random)" in out
    for regime in REGIMES:
        assert regime in out


def test_cli_regimes_any_case_are_normalised() -> None:
    args = cli.build_parser().parse_args(["compare", "--regimes", "PFOF, Auction,BEST-EX"])

    assert args.regimes == "pfof,auction,best-ex"


def test_cli_regime_typo_exits_2_with_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--regimes", "pfof,auctoin"])

    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "unknown regime 'auctoin'; did you mean 'auction'?" in err
    assert "valid: " + ", ".join(REGIMES) in err


def test_cli_strategy_head_any_case_parameters_kept() -> None:
    args = cli.build_parser().parse_args(["inject", "--strategy", "TWAP:2000:4"])

    assert args.strategy == "twap:2000:4"


def test_cli_strategy_list_for_inject_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["inject", "--strategy", "greedy,twap"])

    assert "one strategy, not a list" in capsys.readouterr().err


def test_cli_sor_strategy_typo_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["sor", "--strategies", "greedy,optimall"])

    assert "did you mean 'optimal'?" in capsys.readouterr().err


def test_cli_choices_any_case() -> None:
    args = cli.build_parser().parse_args(["compare", "--design", "Sequential"])

    assert args.design == "sequential"


# ---------------------------------------------------------------------- readiness probe
def test_probe_ready_fresh_file_is_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = tmp_path / "ready"
    ready.write_text("lit-a venue 42\n")

    assert probe_ready(ready, max_age_s=5.0) == 0
    assert capsys.readouterr().out == "ready: lit-a venue 42\n"


def test_probe_ready_stale_file_is_not_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = tmp_path / "ready"
    ready.write_text("lit-a venue 42\n")
    old = time.time() - 60
    os.utime(ready, (old, old))  # its last heartbeat refresh a minute ago

    assert probe_ready(ready, max_age_s=5.0) == 1
    assert "lit-a venue 42: last heartbeat" in capsys.readouterr().err


def test_probe_ready_missing_file_is_not_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert probe_ready(tmp_path / "ready", max_age_s=5.0) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_ready_reads_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ready = tmp_path / "ready"
    ready.write_text("recorder recorder 7\n")
    monkeypatch.setenv("FLOWLAB_READY_FILE", str(ready))

    assert cli.main(["ready"]) == 0
    assert "recorder recorder 7" in capsys.readouterr().out


def test_the_launchers_light_entry_reads_the_same_arguments_as_flowlab_service() -> None:
    """The launcher starts services with ``python -m services.main`` (no ``flowlab`` verbs to
    build): its parser and ``flowlab service``'s read one command line alike."""
    import subprocess
    import sys

    from services.main import add_service_arguments

    line = ["injector", "--config", "c.toml", "--name", "inj", "--stream", "s.csv", "--restart",
            "2", "--timeout", "7.5", "--close-after", "3"]  # fmt: skip
    light = argparse.ArgumentParser()
    add_service_arguments(light)
    assert vars(light.parse_args(line)) == {
        k: v for k, v in vars(cli.build_parser().parse_args(["service", *line])).items()
        if k != "verb"
    }  # fmt: skip
    # run as the launcher runs it: a bad role is refused by name, and nothing of
    # orchestration (pandas and the other verbs) is imported on the way
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['services.main', 'nope', '--config', 'c.toml', '--name', 'x']\n"
        "try:\n    runpy.run_module('services.main', run_name='__main__')\n"
        "except SystemExit as e:\n    print(e)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('orchestration', 'pandas')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "unknown role 'nope'" in done.stdout, done.stdout + done.stderr
    assert done.stdout.strip().endswith("[]"), done.stdout
