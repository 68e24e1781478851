"""Apply the registered checks to a snapshot. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dockwarden.checks.registry import Results, Scope, Selection, checks_for, run
from dockwarden.model.common import Source, TargetKind
from dockwarden.model.finding import Target

if TYPE_CHECKING:  # each command imports only the models and checks of its own scope
    from dockwarden.checks.image import ImageContext
    from dockwarden.model.container import ContainerContext, ContainerSpec
    from dockwarden.model.dockerfile import DockerfileSnapshot
    from dockwarden.model.engine import EngineSnapshot
    from dockwarden.model.image import ImageSnapshot


def judge_engine(snap: EngineSnapshot, selection: Selection, *, daemon: bool = True,
                 containers: bool = True) -> Results:
    results = Results()
    # A malformed /info or /version answer is an error entry of the snapshot: judging the
    # daemon on an empty EngineInfo would report what is not true.
    if daemon and snap.info_error is None:
        targets = {
            TargetKind.DAEMON: Target(TargetKind.DAEMON, snap.endpoint),
            TargetKind.HOST: Target(TargetKind.HOST, snap.info.name or snap.endpoint),
        }
        for chk in checks_for(Scope.ENGINE, selection):
            results.extend(run([chk], (snap,), targets[chk.meta.target_kind], Source.ENGINE))
    if containers:
        chks = checks_for(Scope.CONTAINER, selection)
        for spec in snap.containers:
            results.extend(run(chks, (spec, snap.context), spec.target, spec.source,
                               dict(spec.lines)))
    return results


def judge_image(snap: ImageSnapshot, ctx: ImageContext, selection: Selection) -> Results:
    target = Target(TargetKind.IMAGE, snap.ref, snap.id)
    return run(checks_for(Scope.IMAGE, selection), (snap, ctx), target, Source.IMAGE)


def judge_containers(specs: Iterable[ContainerSpec], ctx: ContainerContext,
                     selection: Selection) -> Results:
    """Container specs from files or command lines (no Engine): the same DW2xx checks."""
    results = Results()
    chks = checks_for(Scope.CONTAINER, selection)
    for spec in specs:
        results.extend(run(chks, (spec, ctx), spec.target, spec.source, dict(spec.lines)))
    return results


def judge_dockerfile(df: DockerfileSnapshot, selection: Selection) -> Results:
    from dockwarden.checks.dockerfile import line_map

    target = Target(TargetKind.DOCKERFILE, df.path)
    return run(checks_for(Scope.DOCKERFILE, selection), (df,), target, Source.DOCKERFILE,
               line_map(df))
