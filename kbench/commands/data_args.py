"""Options of ``kbench data`` (standard library only: ``kbench --help`` builds every parser)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]

_EPILOG = """examples:
  kbench data list
      every data set kbench can fetch: present or not, size, how it was verified, where it is
  kbench data fetch coco-val2017
      COCO val2017 images and keypoint annotations (md5s as PaddleDetection publishes them), then
      `kbench eval --model NAME` finds them without --data-root
  kbench data fetch coco-val2017-det mpii-val
      the zoo README's detector boxes (bbox.json) and MPII val (images and HRNet's annotations)

Data sets go to $KBENCH_DATA (default ~/.cache/kbench/datasets), one folder each, laid out as
`kbench eval --data-root` expects. An interrupted download resumes where it stopped; $KBENCH_MIRROR
(a base URL) replaces the download hosts of every file.
"""


def add_parser(sub) -> None:
    """Register ``kbench data fetch`` and ``kbench data list``."""
    data = sub.add_parser("data", help="fetch the evaluation data sets (COCO val2017, MPII val, detector boxes)",
                          epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="Download data sets from their official URLs, verify them (published md5, or "
                                      "the first download's sha256, recorded), extract them safely and install them "
                                      "under $KBENCH_DATA as `kbench eval --data-root` expects.")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    fetch = data_sub.add_parser("fetch", help="download, verify and install data sets",
                                description="Download, verify, extract and install data sets (once; an installed, "
                                            "unchanged one is left as it is).")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="data set names (see `kbench data list`)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bars or download lines")
    fetch.add_argument("--json", action="store_true", help="print what was installed as JSON")
    lst = data_sub.add_parser("list", help="what is present, sizes and verification state",
                              description="Every data set kbench can fetch: its state (present, changed, downloaded, "
                                          "partial, absent), size on disk or to download, how its files were "
                                          "verified, and its folder.")
    lst.add_argument("--json", action="store_true", help="print the states as JSON")
    data.set_defaults(handler="kbench.commands.data:run")
