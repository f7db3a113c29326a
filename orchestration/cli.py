"""``flowlab``: launch the lab, inject order streams, compare regimes, and report.

``flowlab service`` runs every lab process, so this module imports only what parsing needs; the
other verbs' code (``orchestration.commands``, which loads pandas) is imported once the verb is
known to be one of them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from orchestration.stream_options import add_stream_arguments

Subparsers = argparse._SubParsersAction  # what ``add_subparsers`` returns


def _add_scenario(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario", type=Path, default=None, help="scenario TOML (default: the built-in default)"
    )


def _add_close_after(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--close-after",
        type=float,
        default=None,
        help="the close: seconds after the last order before every order still open (resting "
        "day limits) is canceled (default: the scenario's [stream] close_after_s)",
    )


def _add_runs(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--runs", type=Path, default=Path("runs"), help=help)


def _add_lab_dirs(p: argparse.ArgumentParser, run_dir_help: str | None = None) -> None:
    """Where to find a running lab: ``--run-dir``, else ``RUNS/current``."""
    p.add_argument("--run-dir", type=Path, default=None, help=run_dir_help)
    _add_runs(p)


def _compare(sub: Subparsers) -> None:
    p = sub.add_parser(
        "compare", help="start the lab, inject a retail stream across regimes, report"
    )
    _add_scenario(p)
    p.add_argument("--regimes", default=None, help="comma-separated arms, e.g. pfof,auction")
    p.add_argument("--orders", type=int, default=None, help="orders in the stream")
    p.add_argument("--rate", type=float, default=None, help="mean orders per second (Poisson)")
    p.add_argument("--seed", type=int, default=None, help="seed of the stream and the market")
    p.add_argument("--out", type=Path, default=None, help="report directory (default: the run dir)")
    _add_runs(p, "where run directories go")
    p.add_argument("--no-live", action="store_true", help="plain line output")
    p.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds the market runs on after the last order, so realized spreads can be "
        "measured at longer horizons (default 5)",
    )
    p.add_argument(
        "--design",
        choices=["random", "sequential"],
        default="random",
        help="random: orders assigned at random to regimes in one market (default); "
        "sequential: the same stream and seeds once per regime",
    )
    p.add_argument("--repeat", type=int, default=1, help="replications with derived seeds")
    _add_close_after(p)
    p.add_argument(
        "--file",
        type=Path,
        default=None,
        help="stream file (CSV/Parquet, docs/STREAMS.md) instead of a generated one",
    )
    add_stream_arguments(p)


def _sweep(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sweep",
        help="a grid of scenario settings x replications as Dask tasks (one lab each); one "
        "Parquet dataset, sweep.json, report.html",
    )
    _add_scenario(p)
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a dotted scenario key and its values, e.g. auction.window_ms=100,300 or "
        "wholesalers.0.pfof_per_share=0,0.002 (repeat for a grid)",
    )
    p.add_argument(
        "--interference",
        action="store_true",
        help="the interference check: the random design at arm mixes 10/90, 50/50 and 90/10 "
        "(stream.first_regime_share=0.1,0.5,0.9), reporting whether the difference depends on "
        "the mix",
    )
    p.add_argument("--replications", type=int, default=5, help="labs per point (default 5)")
    p.add_argument("--orders", type=int, default=None, help="orders per replication")
    p.add_argument("--rate", type=float, default=None, help="mean orders per second (Poisson)")
    p.add_argument("--regimes", default=None, help="comma-separated arms (default: the scenario's)")
    p.add_argument(
        "--design",
        choices=["random", "sequential"],
        default="random",
        help="random: one lab per replication, orders assigned at random to regimes; "
        "sequential: one lab per replication and regime, the same stream",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="base seed (replication r derives its own)"
    )
    p.add_argument(
        "--settle", type=float, default=5.0, help="seconds the market runs on after the last order"
    )
    p.add_argument(
        "--address", default=None, help="an existing Dask scheduler, e.g. tcp://host:8786"
    )
    p.add_argument(
        "--workers", type=int, default=None, help="LocalCluster workers (default: one per ~4 cores)"
    )
    p.add_argument("--labs-per-worker", type=int, default=1, help="labs a worker runs at once")
    p.add_argument(
        "--out", type=Path, default=None, help="sweep directory (default: runs/sweep-...)"
    )
    p.add_argument(
        "--keep-runs",
        choices=["all", "failed", "none"],
        default="failed",
        help="which tasks' run directories to keep (default: failed)",
    )
    p.add_argument("--no-live", action="store_true", help="plain lines instead of a progress bar")


def _calibrate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "calibrate",
        help="run a lab so the dealers learn their markups; save what they learned as a warm start",
    )
    _add_scenario(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float, default=None, help="stream length in seconds")
    length.add_argument("--orders", type=int, default=None, help="orders in the stream")
    p.add_argument("--rate", type=float, default=None, help="mean orders per second (Poisson)")
    p.add_argument("--regimes", default=None, help="comma-separated arms (default: the scenario's)")
    p.add_argument("--seed", type=int, default=None, help="seed of the stream and the market")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the warm start file (default: <scenario stem>.dealers.json next to the scenario; "
        "config/scenarios/default.dealers.json for the built-in default)",
    )
    _add_runs(p, "where run directories go")


def _up(sub: Subparsers) -> None:
    p = sub.add_parser("up", help="start a lab in the background and print its run dir")
    _add_scenario(p)
    _add_runs(p)
    p.add_argument("--run-dir", type=Path, default=None)
    p.add_argument("--foreground", action="store_true", help="run the orchestrator in this process")
    p.add_argument("--no-live", action="store_true", help="--foreground: plain lines, no live view")
    p.add_argument(
        "--hosts",
        type=Path,
        default=None,
        help="multi-host lab: where each service runs and how to start it there (docs/HOSTS.md)",
    )
    p.add_argument(
        "--attach",
        action="store_true",
        help="only supervise services started elsewhere (compose); needs --config",
    )
    p.add_argument(
        "--config", type=Path, default=None, help="--attach: the run config of those services"
    )


def _status(sub: Subparsers) -> None:
    p = sub.add_parser("status", help="show the processes of a running lab")
    _add_lab_dirs(p, "default: runs/current")
    p.add_argument("--watch", action="store_true", help="refresh twice a second until Ctrl-C")


def _inject(sub: Subparsers) -> None:
    p = sub.add_parser("inject", help="send a stream (generated or from a file) into a running lab")
    _add_lab_dirs(p)
    p.add_argument(
        "--file", type=Path, default=None, help="CSV or Parquet stream (docs/STREAMS.md)"
    )
    p.add_argument("--orders", type=int, default=None)
    p.add_argument("--rate", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--regimes", default=None)
    p.add_argument(
        "--to", default="broker", choices=["broker", "sor"], help="send to the broker or the SOR"
    )
    p.add_argument("--strategy", default=None, help="SOR strategy of every order (docs/SOR.md)")
    p.add_argument("--timeout", type=float, default=30.0)
    _add_close_after(p)
    add_stream_arguments(p)


def _down(sub: Subparsers) -> None:
    p = sub.add_parser("down", help="stop a running lab")
    _add_lab_dirs(p)


def _report(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="build the tables and report of a finished run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, default=None)


def _service(sub: Subparsers) -> None:
    p = sub.add_parser("service", help="run one role process (used by the launcher and compose)")
    p.add_argument("role")
    p.add_argument("--config", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--stream", default=None, help="injector: the stream CSV")
    p.add_argument("--target", default="broker", help="injector: broker or sor")
    p.add_argument("--timeout", type=float, default=30.0, help="injector: wait for terminal states")
    _add_close_after(p)


def _keys(sub: Subparsers) -> None:
    p = sub.add_parser(
        "keys",
        help="write the CURVE keys of a run config into its run dir (attach mode, compose; "
        "docs/SECURITY.md)",
    )
    p.add_argument("--config", required=True, help="the run config (its run_dir gets keys/)")


def _compose(sub: Subparsers) -> None:
    p = sub.add_parser("compose", help="regenerate docker-compose.yml and its run config")
    _add_scenario(p)
    p.add_argument("--out-dir", type=Path, default=Path("."), help="where docker-compose.yml goes")


def _sor(sub: Subparsers) -> None:
    p = sub.add_parser(
        "sor", help="one parent per SOR strategy and per single venue; best-ex report"
    )
    _add_scenario(p)
    p.add_argument("--qty", type=int, default=100_000, help="shares per parent")
    p.add_argument(
        "--side",
        choices=["buy", "sell", "alternate"],
        default="buy",
        help="alternate: buy in odd rounds, sell in even ones (--rounds)",
    )
    p.add_argument(
        "--symbol", default=None, help="run every parent on this symbol, one after another"
    )
    p.add_argument("--strategies", default=None, help="comma-separated (default: every strategy)")
    p.add_argument(
        "--baselines", default=None, help="venues for direct:<venue> (default: lit venues)"
    )
    p.add_argument(
        "--limit-bps", type=float, default=None, help="marketable limit this far through"
    )
    p.add_argument("--gap", type=float, default=1.0, help="seconds between sequential parents")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="every strategy and baseline this many times, each round in its own random order; "
        "the report adds means and 95%% CIs over rounds",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="per injection")
    p.add_argument("--out", type=Path, default=None, help="report directory (default: the run dir)")
    _add_runs(p)


def _bench(sub: Subparsers) -> None:
    p = sub.add_parser("bench", help="benchmarks of the cores and the transport")
    p.add_argument("--quick", action="store_true", help="small counts: about 10 s")
    p.add_argument("--out", type=Path, default=None, help="where bench.json goes (default: .)")
    p.add_argument(
        "--security",
        choices=["curve", "none"],
        default="curve",
        help="the lab path's sockets: CURVE (default) or unauthenticated (docs/SECURITY.md)",
    )


# Every verb's parser, in the order ``flowlab --help`` lists them.
VERBS: tuple[Callable[[Subparsers], None], ...] = (
    _compare,
    _sweep,
    _calibrate,
    _up,
    _status,
    _inject,
    _down,
    _report,
    _service,
    _keys,
    _compose,
    _sor,
    _bench,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    for add_verb in VERBS:
        add_verb(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb == "service":
        # Imported here: the other verbs need none of the service modules.
        from services.main import run_service

        options = {}
        if args.role == "injector":
            if not args.stream:
                print("flowlab service injector: --stream is required", file=sys.stderr)
                return 2
            options = {
                "stream": args.stream,
                "target": args.target,
                "timeout_s": args.timeout,
                "close_after_s": args.close_after,
            }
        return run_service(args.role, args.config, args.name, **options)
    if args.verb == "keys":
        # Imported here and light: compose runs it in its own container before any service.
        from config.runconfig import load_run_config
        from services.security import create_keys

        print(f"keys in {create_keys(load_run_config(args.config))}")
        return 0
    # Imported here, not at the top: commands loads pandas, which ``flowlab service`` must not.
    from orchestration import commands

    return commands.dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
