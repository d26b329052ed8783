"""``arena live`` (a whole battle on loopback, nodes in worker processes), ``arena node`` (one node of a battle
spread over machines) and ``arena keygen`` (a node's own key file). The lead registers them on the ``arena`` group."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from arena.cli.consoles import console as make_console
from arena.cli.errors import EXIT_CODES_HELP, VERDICT_CHOICE, console, exit_for
from arena.cli.errors import user_errors as _user_errors
from arena.cli.judge import verdict_tables
from arena.cli.progress import progress
from arena.cli.story import print_story
from arena.live.coordinator import LiveError, Phase, run_live
from arena.live.endpoint import GuardSettings, is_loopback, loopback_only
from arena.live.plan import LOOPBACK, Address, BattlePlan, load_roster, parse_address
from arena.live.process import LiveProcess, ProcessSpec, load_or_create_key
from arena.plugin_host.registry import default_registry, load_file
from arena.runtime.keys import KeyFileError, generate_key, is_seed_key, public_key_hex, write_key_file
from arena.scenario.checks import check_scenario
from arena.scenario.model import Scenario, load_scenario
from arena.scenario.yamlsource import ScenarioError, parse_param
from arena.sim.runner import default_out_dir

if TYPE_CHECKING:
    from rich.console import Console

out = make_console()
HOSTS_CHOICE = click.Choice(["shared", "per-node"])


def user_errors() -> AbstractContextManager[None]:
    """Bad input is a one-line message and exit 2; a battle that could not run exits 3."""
    return _user_errors((LiveError,), "live battle failed")


def _load(path: str, params: tuple[str, ...]) -> Scenario:
    return load_scenario(path, [parse_param(p) for p in params])


#: Per phase of a live battle (:data:`arena.live.coordinator.Phase`): the bar's description and unit.
PHASES = {"processes": ("starting processes", "processes"), "nodes": ("waiting for nodes", "nodes ready"),
          "battle": ("live battle", "battle s (live: virtual time is real time)"),
          "stopping": ("stopping", "processes"), "judging": ("judging", "")}


@contextmanager
def live_progress(enabled: bool, console: Console | None = None) -> Iterator[Phase | None]:
    """One bar through the phases of a live battle: start-up takes seconds before the first battle second, and a
    silent terminal then looks hung. Nothing off a terminal or with ``enabled`` false (``console``: for tests)."""
    with progress(PHASES["processes"][0], 1, PHASES["processes"][1], console=console, enabled=enabled) as bar:
        if not bar.drawn:
            yield None
            return
        current: list[str] = []

        def phase(name: str, done: float, total: float) -> None:
            if current != [name]:
                description, unit = PHASES.get(name, (name, ""))
                bar.restart(description, total, unit)
                current[:] = [name]
            bar.update(done)

        yield phase


def _guard(peer_rate: float | None, send_rate: float | None, unknown_rate: float | None = None) -> GuardSettings:
    """The endpoint limits from the options (a burst never below one second's rate)."""
    g = GuardSettings()
    return replace(g, peer_rate=peer_rate or g.peer_rate, peer_burst=max(g.peer_burst, peer_rate or 0.0),
                   unknown_rate=unknown_rate or g.unknown_rate,
                   unknown_burst=max(g.unknown_burst, unknown_rate or 0.0), send_rate=send_rate or g.send_rate)


# ================================================ arena live =====================================================
@click.command("live", epilog=EXIT_CODES_HELP)
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Run directory (default runs/live/<scenario>/<time>).")
@click.option("--processes", type=click.IntRange(1, 256), default=3, show_default=True,
              help="Worker processes the nodes are spread over (a node named by a crash event gets its own).")
@click.option("--base-port", type=click.IntRange(1, 65535), default=None,
              help="Node i listens on 127.0.0.1:BASE_PORT+i (default: free ports).")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--plugin", "plugins", multiple=True, type=click.Path(dir_okay=False), help="Load a plugin file.")
@click.option("--protocol", "protocol", default=None, help="Run this protocol instead of the scenario's: a file "
              "(ourchain.py), an installed name, or package.module:Class (docs/protocols.md).")
@click.option("--param", "params", multiple=True, help="Override a scenario key: duration=30.")
@click.option("--hosts", type=HOSTS_CHOICE, default="shared", show_default=True,
              help="shared: every node on 127.0.0.1; per-node: node i on 127.0.0.(i+2), as on a LAN.")
@click.option("--peer-rate", type=float, default=None, help="Packets per second accepted per battle node from a "
              "known IP (an IP with k nodes: k times this).")
@click.option("--unknown-rate", type=float, default=None,
              help="Packets per second accepted from all IPs outside the battle together.")
@click.option("--send-rate", type=float, default=None, help="Packets per second one node may send.")
@click.option("--emulate-links", is_flag=True, help="Apply the scenario's link latency, jitter and loss to sends "
              "(rehearsal; default: the network is what it is).")
@click.option("--no-report", is_flag=True, help="Do not write report.html.")
@click.option("--quiet", is_flag=True, help="Print only the verdict line.")
@click.option("--json", "as_json", is_flag=True, help="Print result.json to stdout.")
@click.option("--expect", "expect", type=VERDICT_CHOICE, default=None,
              help="Exit 1 unless the verdict is this one (overrides the verdict of the scenario's expect:).")
def live_cmd(scenario: str, out_dir: str | None, processes: int, base_port: int | None, seed: int | None,
             plugins: tuple[str, ...], protocol: str | None, params: tuple[str, ...], hosts: str,
             peer_rate: float | None, unknown_rate: float | None, send_rate: float | None, emulate_links: bool,
             no_report: bool, quiet: bool, as_json: bool, expect: str | None) -> None:
    """Run a battle live: real py-ipv8 UDP endpoints on loopback, nodes in worker processes, in real time."""
    with user_errors():
        sc = _load(scenario, params)
        files: list[str] = []
        if protocol is not None:
            from arena.protocols.registry import is_file_ref, scenario_name

            sc = sc.model_copy(update={"protocol": scenario_name(protocol)})
            files = [protocol] if is_file_ref(protocol) else []
        check_scenario(sc, scenario, default_registry(plugins))
        target = Path(out_dir) if out_dir else default_out_dir(sc, Path("runs") / "live")
        with live_progress(not (quiet or as_json)) as phase:
            outcome = run_live(sc, target, processes, base_port, seed, plugins,
                               guard=_guard(peer_rate, send_rate, unknown_rate), phase=phase,
                               hosts=hosts.replace("-", "_"), emulate_links=emulate_links, protocol_files=files)
    if not no_report:
        report(target)
    result = outcome.result
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        if not quiet:
            for table in verdict_tables(outcome.verdict):
                out.print(table)
            print_story(out, outcome.verdict.story)
            m = result["messages"]
            out.print(f"packets: {m['sent']} sent, {m['delivered']} delivered, "
                      f"{dropped_text(m['dropped'], m['dropped_by_reason'])}, {m['lost']} lost in the network "
                      f"({m['loss_rate']:.3%}); "
                      f"finalised height {result.get('finalized_height', 0)}; processes {len(result['processes'])}")
        click.echo(f"verdict: {result.get('verdict')}  stolen: {result.get('stolen', 0)}  run: {target}")
    sys.exit(exit_for(result, sc.expect, expect))


def report(run_dir: Path) -> None:
    """Write report.html beside result.json once the run is judged, as ``arena run`` does; a page that cannot be
    written is a warning, never a lost verdict."""
    from arena.report.page import write_report

    try:
        write_report(run_dir)
    except OSError as exc:
        console.print(f"[yellow]warning:[/yellow] report.html not written: {exc}")


# ================================================ arena node =====================================================
def _start_time(text: str | None, roster_start: float | None) -> float | None:
    """``--start-at``: epoch seconds, ``+SECONDS`` from now, or ``now``; else the roster's; else None."""
    if text is None:
        return roster_start
    if text == "now":
        return time.time()
    try:
        return time.time() + float(text[1:]) if text.startswith("+") else float(text)
    except ValueError:
        raise ScenarioError(f"--start-at {text!r}: give epoch seconds, +SECONDS or now") from None


def _file_plugins(files: tuple[str, ...], team: str, name: str) -> list[str]:
    """Names of the plugins in ``--plugin`` files that fit this node's team (attached to it)."""
    names = []
    for f in files:
        found = load_file(f)
        fitting = [cls.name for cls in found if cls.team == team]
        if not fitting:
            raise ScenarioError(f"--plugin {f}: no {team} plugin in it, and {name} is on the {team} team")
        names.extend(fitting)
    return names


@click.command("node")
@click.option("--scenario", "scenario_path", required=True, type=click.Path(dir_okay=False), help="Scenario file.")
@click.option("--role", required=True, type=click.Choice(["validator", "light", "merchant"]))
@click.option("--index", required=True, type=click.IntRange(0), help="The node's index in the scenario (light5: 5).")
@click.option("--bootstrap", "bootstrap", multiple=True, help="HOST:PORT of a node to announce to (repeatable; "
              "default: the first validators of the roster or port plan).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), default=None,
              help="The node's private key file (created if missing); default: derived from the seed.")
@click.option("--listen", default=None, help="HOST:PORT to bind and announce (default 127.0.0.1:BASE_PORT+INDEX, "
              "or the roster's address).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="The node's run directory.")
@click.option("--plugin", "plugins", multiple=True, type=click.Path(dir_okay=False),
              help="Load a plugin file and attach its plugins of this node's team to this node.")
@click.option("--protocol", "protocol", default=None, help="The protocol every node of the battle runs, instead of "
              "the scenario's: a file (ourchain.py), an installed name, or package.module:Class.")
@click.option("--roster", type=click.Path(dir_okay=False), default=None,
              help="Addresses and public keys of the battle's nodes (and start_at).")
@click.option("--start-at", default=None, help="Battle start: epoch seconds, +SECONDS from now, or now.")
@click.option("--base-port", type=click.IntRange(1, 65535), default=7000, show_default=True,
              help="Port plan for nodes the roster does not list: 127.0.0.1:BASE_PORT+index.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--param", "params", multiple=True, help="Override a scenario key.")
@click.option("--keygen", is_flag=True, help="Create the --key file if needed, print its roster entry, exit.")
@click.option("--rehearsal", is_flag=True, help="A rehearsal: nodes without a key file or roster key use the "
              "seed-derived keys (anyone with the seed can sign for them). Without it every node needs its own key.")
@click.option("--hosts", type=HOSTS_CHOICE, default="shared", show_default=True,
              help="Port plan for nodes the roster does not list: shared 127.0.0.1, or per-node 127.0.0.(i+2).")
@click.option("--emulate-links", is_flag=True, help="Apply the scenario's link latency, jitter and loss to this "
              "node's sends (rehearsals only).")
def node_cmd(scenario_path: str, role: str, index: int, bootstrap: tuple[str, ...], key_file: str | None,
             listen: str | None, out_dir: str | None, plugins: tuple[str, ...], protocol: str | None,
             roster: str | None,
             start_at: str | None, base_port: int, seed: int | None, params: tuple[str, ...], keygen: bool,
             rehearsal: bool, hosts: str, emulate_links: bool) -> None:
    """Run one node of a live battle (each team starts its own nodes with its own keys and plugins)."""
    with user_errors():
        sc = _load(scenario_path, params)
        protocol_files: list[str] = []
        if protocol is not None:
            from arena.protocols.registry import is_file_ref, scenario_name

            sc = sc.model_copy(update={"protocol": scenario_name(protocol)})
            if is_file_ref(protocol):
                protocol_files = [str(Path(protocol).resolve())]
        if sc.protocol == "pingpong":
            raise ScenarioError("protocol: pingpong runs in the simulator only (arena run)")
        files = [str(Path(p).resolve()) for p in plugins]
        registry = default_registry(files)
        check_scenario(sc, scenario_path, registry)
        roles = sc.roles()
        if index >= len(roles):
            raise ScenarioError(f"--index {index}: the scenario's nodes are 0..{len(roles) - 1}")
        if roles[index][0] != role:
            raise ScenarioError(f"--index {index} is {roles[index][0]}{index} in this scenario, not a {role}")
        name = f"{role}{index}"
        entries, roster_start = load_roster(roster) if roster else ({}, None)
        plan = BattlePlan.build(sc, seed, base_port, LOOPBACK, entries, hosts=hosts.replace("-", "_"))
        if listen is not None:
            plan.addresses[index] = parse_address(listen, "--listen")
        if not rehearsal and not keygen:
            if key_file is None:
                raise ScenarioError(f"not a rehearsal: {name} needs its own key file (--key FILE, made with "
                                    "`arena keygen --out FILE`), or pass --rehearsal to use the seed-derived keys")
            if not Path(key_file).is_file():
                raise ScenarioError(f"not a rehearsal: key file {key_file} does not exist (make it with `arena "
                                    f"keygen --out {key_file}` and put its public key in the roster)")
        if emulate_links and not rehearsal:
            raise ScenarioError("--emulate-links is for rehearsals (add --rehearsal): battle day measures the real "
                                "network")
        key = load_or_create_key(Path(key_file)) if key_file else None
        if key is not None:
            pk = bytes(key.pub().key_to_bin())
            listed = entries.get(name)
            if listed is not None and listed.public_key is not None and listed.public_key != pk:
                raise ScenarioError(f"--key {key_file}: the roster lists another public key for {name}")
            if listed is None or listed.public_key is None:
                console.print(f"[yellow]note:[/yellow] {name}'s public key is not in a roster: other nodes derive "
                              "its account from the seed, so its genesis balance will not match theirs")
            plan.public_keys[index] = pk
        addr = plan.addresses[index]
        if keygen:
            entry = {name: {"address": f"{addr[0]}:{addr[1]}", "public_key": plan.public_keys[index].hex()}}
            click.echo(json.dumps(entry))
            return
        if not rehearsal:
            seeded = [plan.name(i) for i in range(sc.node_count) if is_seed_key(plan.seed, i, plan.public_keys[i])]
            if seeded:
                who = ", ".join(seeded[:4]) + (f" and {len(seeded) - 4} more" if len(seeded) > 4 else "")
                raise ScenarioError(f"not a rehearsal: {who} would keep seed-derived keys (anyone with the "
                                    "published seed can sign for them): list every node's public key in --roster, "
                                    "or pass --rehearsal")
        extra = _file_plugins(plugins, roles[index][1].team, name)
        begin = _start_time(start_at, roster_start)
        if begin is None:
            begin = time.time()
            console.print("[yellow]note:[/yellow] no --start-at and no start_at in a roster: this node's own start "
                          "is t=0 (other nodes must share one start time for slots to line up)")
        if sc.channels.enabled:
            console.print("[yellow]note:[/yellow] the channel workload runs under arena live only (its invoices are "
                          "handed over by the coordinator); this node runs without it")
        if any(ev.crash == index or ev.restart == index for ev in sc.events):
            console.print(f"[yellow]note:[/yellow] crash/restart events for {name} are not carried out by arena node")
        target = Path(out_dir) if out_dir else default_out_dir(sc, Path("runs") / "live") / name
        boot: list[Address] | None = [parse_address(b, "--bootstrap") for b in bootstrap] or None
        spec = ProcessSpec(plan, [index], target, begin, files, {index: key_file} if key_file else {},
                           allow_non_loopback=not is_loopback(addr[0]), bootstrap=boot, extra_plugins=extra,
                           flat=True, rehearsal=rehearsal, emulate_links=emulate_links,
                           protocol_files=protocol_files)
        loopback_only()

        def ready(addresses: list[Address]) -> None:
            wait = begin - time.time()
            console.print(f"{name} listening on {addresses[0][0]}:{addresses[0][1]}; battle "
                          + (f"starts in {wait:.1f} s" if wait > 0 else f"started {-wait:.1f} s ago")
                          + f", runs {sc.duration:g} s; directory {target}")

        try:
            stats = asyncio.run(LiveProcess(spec, registry).run(ready))
        except OSError as exc:
            raise ScenarioError(str(exc)) from None
    s: dict[str, Any] = stats[0] if stats else {}
    ep = s.get("endpoint", {})
    click.echo(f"{name} done: {ep.get('sent', 0)} packets sent, {ep.get('delivered', 0)} delivered, "
               f"{dropped_text(ep.get('dropped', 0), ep.get('dropped_by_reason', {}))}; run: {target}")


# ================================================ arena keygen ===================================================
@click.command("keygen")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False),
              help="The new private key file (mode 0600; an existing file is never overwritten).")
def keygen_cmd(out_file: str) -> None:
    """Create a node's private key file (never derived from the seed) and print its public key for the roster."""
    with user_errors():
        try:
            key = generate_key()
            write_key_file(Path(out_file), key)
        except KeyFileError as exc:
            raise ScenarioError(f"--out {exc}") from None
    click.echo(public_key_hex(key))


def dropped_text(count: int, by_reason: dict[str, int]) -> str:
    """``3 dropped (2 rate_limited, 1 malformed)``, or ``0 dropped``: never a raw ``{}``."""
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])) if n)
    return f"{count} dropped ({reasons})" if reasons else f"{count} dropped"


__all__ = ["keygen_cmd", "live_cmd", "live_progress", "node_cmd", "report"]
