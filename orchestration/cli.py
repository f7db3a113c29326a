"""``flowlab``: launch the lab, inject order streams, compare regimes, and report.

``flowlab service`` runs every lab process, so this module imports only what parsing needs; the
other verbs' code (``orchestration.commands``, which imports the heavy modules inside the verbs
that need them) is imported once the verb is known to be one of them. ``flowlab`` alone prints
this help and exits 0; ``flowlab --version`` prints the installed version.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import textwrap
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from config.scenario import REGIMES
from orchestration.arrival_options import add_arrival_arguments
from orchestration.stream_options import add_stream_arguments
from services.main import add_close_after, add_service_arguments
from services.sor.strategies import KINDS

Subparsers = argparse._SubParsersAction  # what ``add_subparsers`` returns
STRATEGY_KINDS: tuple[str, ...] = tuple(kind.value for kind in KINDS)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help already says it; a default of
    ``None`` (the scenario decides, and the help says how) or a flag's ``False`` is not shown."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default in (None, False):
            return text
        return text if action.default is argparse.SUPPRESS else f"{text} (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # never inside a name: "pfof-capped", "min-impact" stay whole
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    """Every verb's parser (and the top one): with the help formatter above."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def names_of(
    valid: Sequence[str], what: str, *, heads: bool = False, single: bool = False
) -> Callable[[str], str]:
    """An argparse ``type`` for a comma-separated list of names from ``valid``, matched without
    regard to case; an unknown name is refused with the closest valid one ("did you mean").

    ``heads``: only the part before the first ``:`` must be valid (``twap:2000:4``);
    ``single``: exactly one name."""

    def parse(text: str) -> str:
        if single and "," in text:
            raise argparse.ArgumentTypeError(f"one {what}, not a list: {text!r}")
        names = []
        for raw in (part.strip() for part in text.split(",")):
            if not raw:
                continue
            head, colon, rest = raw.partition(":") if heads else (raw, "", "")
            name = head.lower()
            if name not in valid:
                close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise argparse.ArgumentTypeError(
                    f"unknown {what} {head!r}{hint} (valid: {', '.join(valid)})"
                )
            names.append(name + colon + rest)
        return ",".join(names)

    parse.__name__ = what  # argparse names the type in its own errors
    return parse


def _installed_version() -> str:
    try:
        return version("flowlab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


REGIME_HELP = f"comma-separated regimes, any case, of: {', '.join(REGIMES)}"
STRATEGY_HELP = (
    f"SOR strategy, any case, of: {', '.join(STRATEGY_KINDS)} "
    "(with parameters, e.g. twap:2000:4 or direct:lit-a; docs/SOR.md)"
)


def _add_scenario(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scenario", type=Path, default=None, help="scenario TOML (default: the built-in default)"
    )


def _add_runs(p: argparse.ArgumentParser, help: str = "where run directories go") -> None:
    p.add_argument("--runs", type=Path, default=Path("runs"), help=help)


def _add_lab_dirs(p: argparse.ArgumentParser) -> None:
    """Where to find a running lab: ``--run-dir``, else ``RUNS/current``."""
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="the running lab's run directory (default: RUNS/current, the last `flowlab up`)",
    )
    _add_runs(p, "where `flowlab up` put its run directories (RUNS/current)")


def _add_seed(p: argparse.ArgumentParser, what: str = "seed of the stream and the market") -> None:
    p.add_argument("--seed", type=int, default=None, help=f"{what} (default: the scenario's)")


def _add_regimes(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--regimes",
        type=names_of(REGIMES, "regime"),
        default=None,
        help=f"{REGIME_HELP} (default: the scenario's [broker] regimes)",
    )


def _add_orders_rate(p: argparse.ArgumentParser, orders: str = "orders in the stream") -> None:
    p.add_argument(
        "--orders", type=int, default=None, help=f"{orders} (default: the scenario's [stream])"
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="mean orders per second, Poisson arrivals (default: the scenario's [stream])",
    )


def _compare(sub: Subparsers) -> None:
    p = sub.add_parser(
        "compare", help="start the lab, inject a retail stream across regimes, report"
    )
    _add_scenario(p)
    _add_regimes(p)
    _add_orders_rate(p)
    _add_seed(p)
    p.add_argument("--out", type=Path, default=None, help="report directory (default: the run dir)")
    _add_runs(p)
    p.add_argument(
        "--no-live", action="store_true", help="plain progress lines instead of the dashboard"
    )
    p.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds the market runs on after the last order, so realized spreads can be "
        "measured at longer horizons",
    )
    p.add_argument(
        "--design",
        type=str.lower,
        choices=["random", "sequential"],
        default="random",
        help="random: orders assigned at random to regimes in one market; "
        "sequential: the same stream and seeds once per regime",
    )
    p.add_argument("--repeat", type=int, default=1, help="replications with derived seeds")
    p.add_argument(
        "--allow-overload",
        action="store_true",
        help="exit 0 although a service refused orders as busy or passed its [limits] (the run "
        "is still marked overloaded; default: off, such a run exits 1)",
    )
    add_close_after(p)
    p.add_argument(
        "--file",
        type=Path,
        default=None,
        help="stream file (CSV/Parquet, docs/STREAMS.md) instead of a generated one (default: "
        "generated from the scenario's [stream])",
    )
    add_stream_arguments(p)
    add_arrival_arguments(p, limit_tif=False)


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
    p.add_argument("--replications", type=int, default=5, help="labs per point")
    _add_orders_rate(p, "orders per replication")
    _add_regimes(p)
    p.add_argument(
        "--design",
        type=str.lower,
        choices=["random", "sequential"],
        default="random",
        help="random: one lab per replication, orders assigned at random to regimes; "
        "sequential: one lab per replication and regime, the same stream",
    )
    _add_seed(p, "base seed (replication r derives its own)")
    p.add_argument(
        "--settle", type=float, default=5.0, help="seconds the market runs on after the last order"
    )
    p.add_argument(
        "--address",
        default=None,
        help="an existing Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster here)",
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
        type=str.lower,
        choices=["all", "failed", "none"],
        default="failed",
        help="which tasks' run directories to keep",
    )
    p.add_argument("--no-live", action="store_true", help="plain lines instead of a progress bar")


def _calibrate(sub: Subparsers) -> None:
    p = sub.add_parser(
        "calibrate",
        help="run a lab so the dealers learn their markups; save what they learned as a warm start",
    )
    _add_scenario(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stream length in seconds (default: the scenario's [stream])",
    )
    length.add_argument(
        "--orders", type=int, default=None, help="orders in the stream (default: the scenario's)"
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="mean orders per second, Poisson arrivals (default: the scenario's [stream])",
    )
    _add_regimes(p)
    _add_seed(p)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the warm start file (default: <scenario stem>.dealers.json next to the scenario; "
        "config/scenarios/default.dealers.json for the built-in default)",
    )
    _add_runs(p)


def _up(sub: Subparsers) -> None:
    p = sub.add_parser("up", help="start a lab in the background and print its run dir")
    _add_scenario(p)
    _add_runs(p, "where run directories go; RUNS/current points at the new lab's")
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="the lab's run directory (default: RUNS/<timestamp>-<scenario>)",
    )
    p.add_argument("--foreground", action="store_true", help="run the orchestrator in this process")
    p.add_argument("--no-live", action="store_true", help="--foreground: plain lines, no live view")
    p.add_argument(
        "--hosts",
        type=Path,
        default=None,
        help="multi-host lab: where each service runs and how to start it there (docs/HOSTS.md; "
        "default: every service on this machine)",
    )
    p.add_argument(
        "--attach",
        action="store_true",
        help="only supervise services started elsewhere (compose); needs --config",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="--attach: the run config of those services (no default: required with --attach)",
    )


def _status(sub: Subparsers) -> None:
    p = sub.add_parser("status", help="show the processes of a running lab")
    _add_lab_dirs(p)
    p.add_argument("--watch", action="store_true", help="refresh twice a second until Ctrl-C")
    p.add_argument(
        "--all",
        action="store_true",
        help="every lab under --runs: running ones, and dead ones that left a stale lab.json",
    )


def _inject(sub: Subparsers) -> None:
    p = sub.add_parser(
        "inject",
        help="send a stream (generated or from a file) into a running lab; a live account while "
        "it runs, a Rule 605 summary per regime at the end",
    )
    _add_lab_dirs(p)
    p.add_argument(
        "--file",
        type=Path,
        default=None,
        help="CSV or Parquet stream (docs/STREAMS.md; default: a generated stream)",
    )
    _add_orders_rate(p)
    _add_seed(p, "seed of the generated stream")
    _add_regimes(p)
    p.add_argument(
        "--to",
        type=str.lower,
        default="broker",
        choices=["broker", "sor"],
        help="send to the broker or the SOR",
    )
    p.add_argument(
        "--strategy",
        type=names_of(STRATEGY_KINDS, "strategy", heads=True, single=True),
        default=None,
        help=f"{STRATEGY_HELP} for every order (default: the stream's column, else greedy)",
    )
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for every order to end"
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="also write the full report of the run so far into this directory "
        "(default: no report; `flowlab down` then `flowlab report RUN_DIR` make one)",
    )
    p.add_argument(
        "--no-live", action="store_true", help="plain progress lines instead of a live account"
    )
    add_close_after(p)
    add_stream_arguments(p)
    add_arrival_arguments(p, limit_tif=False)


def _stream(sub: Subparsers) -> None:
    p = sub.add_parser(
        "stream",
        help="real order arrivals (LOBSTER, or trades and quotes) as a stream file for "
        "`inject --file` and `compare --file`",
    )
    _add_scenario(p)
    add_arrival_arguments(p, limit_tif=True)
    p.add_argument(
        "--out", type=Path, required=True, help="the stream file to write: .csv or .parquet"
    )
    p.add_argument("--id-prefix", default="A", help="order ids: this prefix and a six-digit count")


def _down(sub: Subparsers) -> None:
    p = sub.add_parser("down", help="stop a running lab and write its report (RUN_DIR/report.html)")
    _add_lab_dirs(p)
    p.add_argument(
        "--no-report", action="store_true", help="only stop the lab; `flowlab report` can follow"
    )
    p.add_argument(
        "--allow-overload",
        action="store_true",
        help="exit 0 when the lab was overloaded (it is still marked so; default: off, such a "
        "lab's down exits 1, as does an aborted one's)",
    )


def _report(sub: Subparsers) -> None:
    p = sub.add_parser("report", help="build the tables and report of a finished run")
    p.add_argument("run_dir", type=Path, help="the run directory (holds config.toml and the tape)")
    p.add_argument("--out", type=Path, default=None, help="report directory (default: RUN_DIR)")


def _realism(sub: Subparsers) -> None:
    p = sub.add_parser(
        "realism",
        help="stylized facts of a run's market (or of real LOBSTER / trades-and-quotes data)",
    )
    p.add_argument(
        "run_dir", type=Path, nargs="?", default=None, help="a finished run (or give real data)"
    )
    p.add_argument(
        "--lobster",
        nargs=2,
        metavar=("MESSAGE", "ORDERBOOK"),
        default=None,
        help="a LOBSTER message / order-book pair instead of a run (default: none)",
    )
    p.add_argument(
        "--taq",
        nargs=2,
        metavar=("TRADES", "QUOTES"),
        default=None,
        help="a trades CSV and a quotes CSV instead of a run (default: none)",
    )
    p.add_argument(
        "--symbol", default=None, help="LOBSTER: the ticker (default: from the file name)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where realism.parquet goes (default: RUN_DIR, or the data's folder)",
    )


def _service(sub: Subparsers) -> None:
    p = sub.add_parser("service", help="run one role process (used by the launcher and compose)")
    add_service_arguments(p)


def _ready(sub: Subparsers) -> None:
    p = sub.add_parser(
        "ready",
        help="readiness probe of a `flowlab service --ready-file` (the Docker HEALTHCHECK): exit "
        "0 if the service is ready and its heartbeat fresh, 1 otherwise",
    )
    p.add_argument(
        "--file",
        type=Path,
        default=None,
        help="the service's ready file (default: $FLOWLAB_READY_FILE)",
    )
    p.add_argument(
        "--max-age",
        type=float,
        default=5.0,
        help="seconds since the last heartbeat refresh after which the service counts as stuck",
    )


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
        type=str.lower,
        choices=["buy", "sell", "alternate"],
        default="buy",
        help="alternate: buy in odd rounds, sell in even ones (--rounds)",
    )
    p.add_argument(
        "--symbol",
        default=None,
        help="run every parent on this symbol, one after another (default: the scenario's first)",
    )
    p.add_argument(
        "--strategies",
        type=names_of(STRATEGY_KINDS, "strategy", heads=True),
        default=None,
        help=f"comma-separated; each a {STRATEGY_HELP} (default: every strategy)",
    )
    p.add_argument(
        "--baselines",
        default=None,
        help="comma-separated venues for direct:<venue> (default: the lit venues)",
    )
    p.add_argument(
        "--limit-bps",
        type=float,
        default=None,
        help="marketable limit this far through the far touch (default: market orders)",
    )
    p.add_argument("--gap", type=float, default=1.0, help="seconds between sequential parents")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="every strategy and baseline this many times, each round in its own random order; "
        "the report adds means and 95%% CIs over rounds",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per injection")
    p.add_argument("--out", type=Path, default=None, help="report directory (default: the run dir)")
    _add_runs(p)
    p.add_argument("--no-live", action="store_true", help="plain lines instead of a progress bar")


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
    p.add_argument(
        "--load",
        action="store_true",
        help="instead of the figures above: the full lab at a sweep of order rates "
        "(docs/BENCHMARKS.md, 'Load'); writes load.json",
    )
    p.add_argument(
        "--scaling",
        action="store_true",
        help="instead: the full lab at one rate as the market grows, one dimension at a time "
        "(docs/BENCHMARKS.md, 'Scaling'); writes scaling.json",
    )
    p.add_argument(
        "--rates",
        type=_rates,
        default=None,
        help="--load: orders/s to run, comma-separated (default: 500,1000,2000,4000,8000,16000; "
        "--quick: 100,300); --scaling: one rate (default: 500; --quick: 100)",
    )
    p.add_argument(
        "--orders",
        type=int,
        default=None,
        help="--load: orders per rate (default: 20000; --quick: 300); --scaling: per lab "
        "(default: 5000; --quick: 200)",
    )
    p.add_argument(
        "--dimensions",
        type=_dimensions,
        default=None,
        help="--scaling: what grows, comma-separated, of symbols, venues, wholesalers, agents "
        "(default: all four)",
    )
    p.add_argument(
        "--factors",
        type=_factors,
        default=None,
        help="--scaling: how many times, comma-separated (default: 1,2,4; --quick: 1,2)",
    )
    p.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="--load, --scaling: the scenario the labs run (default: the built-in default)",
    )
    p.add_argument(
        "--keep-runs",
        type=Path,
        default=None,
        help="--load, --scaling: keep each lab's run dir under this directory (default: none kept)",
    )


def _factors(text: str) -> list[int]:
    try:
        factors = [int(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not factors or any(f < 1 for f in factors):
        raise argparse.ArgumentTypeError(f"factors must be >= 1: {text!r}")
    return factors


def _dimensions(text: str) -> list[str]:
    from orchestration.bench.scaling import DIMENSIONS

    chosen = [d.strip().lower() for d in text.split(",") if d.strip()]
    unknown = [d for d in chosen if d not in DIMENSIONS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown dimension {(unknown or [text])[0]!r}; valid: {', '.join(DIMENSIONS)}"
        )
    return chosen


def _rates(text: str) -> list[int]:
    try:
        rates = [int(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive: {text!r}")
    return rates


def _miniproject(sub: Subparsers) -> None:
    p = sub.add_parser(
        "miniproject",
        help="a seed document's mini-project run as written, offline, beside the live lab",
    )
    p.add_argument("project", choices=["pfof"], help="pfof: the PFOF routing mini-project")
    p.add_argument("--seed", type=int, default=615, help="NumPy seed of the model (default 615)")
    p.add_argument(
        "--orders", type=int, default=1000, help="orders per strategy's day (default 1000)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the tables as Parquet and CSV here (default: print only)",
    )
    live = p.add_mutually_exclusive_group()
    live.add_argument(
        "--live", action="store_true", help="run the live scenario first and set it beside"
    )
    live.add_argument(
        "--run",
        type=Path,
        default=None,
        help="a finished run (or compare --repeat experiment) dir of the live scenario "
        "(default: none, the offline model alone)",
    )
    p.add_argument("--repeat", type=int, default=1, help="--live: labs, pooled (default 1)")
    p.add_argument(
        "--scenario",
        type=Path,
        default=Path("scenarios/seed-pfof.toml"),
        help="--live: the scenario (default scenarios/seed-pfof.toml)",
    )
    _add_runs(p, "--live: where the run directory goes")


# Every verb's parser, in the order ``flowlab --help`` lists them.
VERBS: tuple[Callable[[Subparsers], None], ...] = (
    _compare,
    _sweep,
    _calibrate,
    _up,
    _status,
    _inject,
    _stream,
    _down,
    _report,
    _realism,
    _service,
    _ready,
    _keys,
    _compose,
    _sor,
    _bench,
    _miniproject,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="flowlab",
        description="flowlab: launch the lab, inject order streams, compare regimes, and report.",
        epilog="`flowlab VERB --help` lists a verb's options, each with its default.",
    )
    parser.add_argument("--version", action="version", version=f"flowlab {_installed_version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    for add_verb in VERBS:
        add_verb(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:  # bare `flowlab`: the help, as a successful answer
        parser.print_help()
        return 0
    if args.verb == "ready":
        from services.main import probe_ready  # light: no lab, no pandas

        return probe_ready(args.file, args.max_age)
    if args.verb == "service":
        # Imported here: the other verbs need none of the service modules.
        from services.main import serve_from_args

        return serve_from_args(args)
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
