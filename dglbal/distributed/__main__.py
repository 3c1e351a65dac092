"""``python -m dglbal.distributed partition|launch-local``: partition a dataset, or run DGL's
server and trainer roles for it on this host."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from dglbal.data import dataset_names, get_dataset, load_dataset

from .graph import PART_METHODS, partition
from .local import dglbal_train_command, launch_local


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dglbal.distributed",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    part = sub.add_parser("partition", help="write a dataset as DGL partitions (METIS)")
    part.add_argument("--dataset", default="synthetic", choices=dataset_names())
    part.add_argument("--root", help="data directory (default: $DGLBAL_DATA, then DGL's)")
    part.add_argument("--split", type=int, default=1, help="heterophilous split index")
    part.add_argument("--num-parts", type=int, default=2, help="one per machine")
    part.add_argument("--method", default="metis", choices=PART_METHODS)
    part.add_argument("--out", type=Path, default=Path("parts"), help="output directory")
    local = sub.add_parser(
        "launch-local", help="one server and trainer(s) per partition on 127.0.0.1",
        description="Runs `dglbal train --dist-config PART_CONFIG ...` in DGL's server and "
                    "trainer roles on this host; arguments after `--` go to dglbal train.")
    local.add_argument("part_config", type=Path)
    local.add_argument("--trainers", type=int, default=1, help="trainers per partition")
    local.add_argument("--timeout", type=float, default=600.0, help="seconds before killing all")
    local.add_argument("--work-dir", type=Path, default=Path("runs/dist-local"),
                       help="ip config and logs")
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args, train_args = parser.parse_args(argv[:split]), argv[split + 1:]
    try:
        if args.command == "partition":
            graph = load_dataset(args.dataset, args.root, split=args.split)
            config = partition(graph, args.dataset, args.out, args.num_parts, args.method,
                               dataset=args.dataset,
                               split=args.split if get_dataset(args.dataset).heterophilous
                               else None)
            print(f"wrote {config}")
            return 0
        run = launch_local(args.part_config, dglbal_train_command(args.part_config, train_args),
                           args.work_dir, trainers_per_part=args.trainers, timeout=args.timeout)
    except (ValueError, OSError) as error:
        print(f"dglbal: error: {error}", file=sys.stderr)
        return 2
    print(run.tail(40 if run.ok else 80))
    print("finished" if run.ok else "timed out" if run.timed_out else "failed",
          f"(trainers {run.trainer_codes}, servers {run.server_codes}; logs in {args.work_dir})")
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
