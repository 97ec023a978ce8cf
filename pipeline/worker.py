"""What every process torchrun starts for the runner runs: `python -m arc_pipeline.worker`.

Node 0's workers are told the stage (`--stage NAME --set ...`); a follower node's workers are not
(`--result FILE`): they join the process group, and `pipeline.launch.handshake` hands them node 0's
stage, settings and deadline while it checks that every rank sees the same run directory. Then
each rank runs the stage's body, as `arc-pipeline <stage> --no-manifest` does (the runner keeps the
manifest). `--end CODE`: no stage, only the news that node 0 is done (with its exit status).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m arc_pipeline.worker", description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True)
    p.add_argument("--session", default=None, help="node 0's session id")
    p.add_argument("--stage", default=None)
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--end", type=int, default=None)
    p.add_argument("--result", default=None, help="(followers) where local rank 0 records what node 0 asked")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from arc_pipeline.arc.errors import ArcError
    from arc_pipeline import ui
    from arc_pipeline.launch import DEADLINE_ENV, handshake, write_result
    from arc_pipeline.solver.device import join_process_group, teardown

    run_dir = Path(args.run_dir)
    told = None
    if args.stage is not None or args.end is not None:
        deadline = os.environ.get(DEADLINE_ENV)
        told = {"session": args.session, "stage": args.stage, "sets": args.sets, "end": args.end,
                "deadline": float(deadline) if deadline else None}
    try:
        join_process_group()
        got = handshake(run_dir, told)
        if args.result and int(os.environ.get("LOCAL_RANK", "0")) == 0:
            Path(args.result).write_text(json.dumps({k: got.get(k) for k in ("session", "stage", "end")}))
        if got.get("end") is None:
            if got.get("deadline") is not None:
                os.environ[DEADLINE_ENV] = repr(got["deadline"])
            from arc_pipeline.commands.stage import stage_body
            from arc_pipeline.config import resolve
            from arc_pipeline.stages import BY_NAME

            cfg, rdir, _ = resolve(run_dir, sets=tuple(got["sets"]))  # run_dir/config.toml, as node 0 wrote it
            rank0 = int(os.environ.get("RANK", "0")) == 0
            result = stage_body(BY_NAME[got["stage"]], cfg, rdir)
            if rank0 and got.get("session"):  # what the stage says goes to node 0's manifest
                write_result(rdir, got["session"], got["stage"], result)
    except ArcError as e:
        ui.error(str(e))
        return getattr(e, "exit_code", 1)
    finally:
        teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
