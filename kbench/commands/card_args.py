"""Options of ``kbench card`` and the ``-c/-o`` pair of ``eval`` and ``profile`` (standard library only)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "add_config_options"]

_EPILOG = """examples:
  kbench card import configs/keypoint/tiny_pose/tinypose_256x256_hand.yml --out cards/hand.yml
      a card from a PaddleDetection keypoint config (its _BASE_ files, anchors and !Class tags)
  kbench card import my_pose.yml -o num_joints=21 TopDownHRNet.num_joints=21 "flip_perm=[]"
      PaddleDetection's -o overrides, applied before the card is made
  kbench profile --model cards/hand.yml
      any command's --model takes a card file; `kbench eval -c my_pose.yml -o weights=PATH` too

The card has the schema of kbench's own (kbench/configs/*.yml); config keys kbench does not use are
kept under config_extra and listed. An architecture kbench has no network for is refused.
"""


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``-c CONFIG.yml`` and ``-o key=value ...``: a PaddleDetection config instead of ``--model``."""
    group = parser.add_argument_group("a PaddleDetection config instead of --model")
    group.add_argument("-c", "--config", metavar="CONFIG.yml",
                       help="a PaddleDetection keypoint config: imported into a card (as `kbench card import`)")
    group.add_argument("-o", "--opt", nargs="+", action="extend", metavar="KEY=VALUE",
                       help="overrides of config keys, as PaddleDetection's -o (YAML values, dotted keys); "
                            "weights=PATH selects the checkpoint")


def add_parser(sub) -> None:
    """Register ``kbench card import``."""
    card = sub.add_parser("card", help="make a model card from a PaddleDetection keypoint config",
                          epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="Model cards for your own models: import a PaddleDetection keypoint config "
                                      "(with -o overrides) into a card that --model takes.")
    card_sub = card.add_subparsers(dest="card_command", metavar="CARD_COMMAND", required=True)
    imp = card_sub.add_parser("import", help="a PaddleDetection config -> a kbench card",
                              description="Read a PaddleDetection keypoint config as PaddleDetection does (_BASE_, "
                                          "anchors, !Class tags, -o overrides) and write a kbench model card.")
    imp.add_argument("config", metavar="CONFIG.yml", help="the PaddleDetection config")
    imp.add_argument("-o", "--opt", nargs="+", action="extend", metavar="KEY=VALUE",
                     help="overrides of config keys, as PaddleDetection's -o")
    imp.add_argument("--out", metavar="CARD.yml",
                     help="where to write the card, named after its stem (default: ./kbench-cards/<config stem>.yml)")
    imp.add_argument("--force", action="store_true", help="replace an existing --out file")
    card.set_defaults(handler="kbench.commands.card:run")
