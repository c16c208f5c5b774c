"""Command line: noise a folder of masks (``python -m noise --help``)."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from typing import NoReturn

from adapters.masks import DEFAULT_MAX_GREY_SHARE, MASK_RULE, check_grey_share
from common.errors import InputError
from noise.settings import PAPER_SETTINGS, NoiseSetting, parse_setting
from noise.simulate import MASK_SUFFIXES, simulate_folder

DESCRIPTION = "\n\n".join(textwrap.fill(paragraph, 100) for paragraph in (
    "Make noisy copies of binary segmentation masks with the GSD-Net label-noise models.",
    f"Reads every mask in IN_DIR ({', '.join(MASK_SUFFIXES)}), binarised by this rule: {MASK_RULE}.",
    "Writes OUT_DIR/<name>.png (0/255, same size as the input), stats.csv (name, dice, flipped_share, "
    "foreground_change per mask) and summary.json. OUT_DIR must not exist or be empty; it appears only when "
    "complete. Each mask's noise depends only on (setting, file name without suffix, seed), where the setting is "
    "named by --setting, or is 'markov' / 'dilate_erode' for the explicit forms.",
))

EPILOG = "paper settings (2D masks get the 2D smoothing):\n" + "\n".join(
    f"  {name}: {spec['model']} " + ", ".join(f"{key} {value}" for key, value in spec.items() if key != "model")
    for name, spec in PAPER_SETTINGS.items())


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (``error: ...``, exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit with status 2."""
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    parser = _Parser(prog="python -m noise", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("in_dir", metavar="IN_DIR", help="folder of clean masks")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder for the noisy masks (new or empty)")
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--setting", metavar="NAME", help=f"a paper setting: {', '.join(PAPER_SETTINGS)}")
    model.add_argument("--markov", nargs=3, type=float, metavar=("T", "THETA1", "THETA2"),
                       help="Markov boundary noise M(T, theta1, theta2)")
    model.add_argument("--dilate-erode", nargs=2, type=float, metavar=("LO", "HI"),
                       help="dilate or erode (probability 1/2) by a radius drawn from U(LO, HI) pixels")
    parser.add_argument("--theta3", type=float, default=None,
                        help="with --markov: flip each pixel with this probability before smoothing (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--max-grey-share", type=float, default=DEFAULT_MAX_GREY_SHARE,
                        help="share of pixels allowed strictly between 30 and 225 before a mask counts as "
                             "non-binary (default 0.01)")
    parser.add_argument("--mask-channel", type=int, default=None,
                        help="read the mask from this stored channel (0-based; e.g. 3 for the alpha of RGBA)")
    return parser


def _setting_from_arguments(arguments: argparse.Namespace) -> tuple[str, NoiseSetting]:
    """The setting's stream name and the setting; InputError on a bad name or parameter."""
    if arguments.theta3 is not None and arguments.markov is None:
        raise InputError("--theta3: only valid with --markov")
    if arguments.setting is not None:
        if arguments.setting not in PAPER_SETTINGS:
            raise InputError(f"--setting: unknown setting {arguments.setting!r} (known: {', '.join(PAPER_SETTINGS)})")
        return arguments.setting, parse_setting(arguments.setting, PAPER_SETTINGS[arguments.setting])
    if arguments.markov is not None:
        steps, theta1, theta2 = arguments.markov
        if not steps.is_integer():
            raise InputError(f"--markov: T must be a whole number, got {steps:g}")
        spec = {"model": "markov", "steps": int(steps), "theta1": theta1, "theta2": theta2,
                "theta3": arguments.theta3 if arguments.theta3 is not None else 0.0}
        return "markov", parse_setting("markov", spec)
    return "dilate_erode", parse_setting("dilate_erode", {"model": "dilate_erode", "radius": arguments.dilate_erode})


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 for a usage error, 1 for an input error."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        setting_name, setting = _setting_from_arguments(arguments)
    except InputError as error:
        parser.error(str(error))
    if arguments.workers < 1:
        parser.error(f"--workers: must be >= 1, got {arguments.workers}")
    if arguments.mask_channel is not None and arguments.mask_channel < 0:
        parser.error(f"--mask-channel: must be >= 0, got {arguments.mask_channel}")
    try:
        check_grey_share(arguments.max_grey_share, "--max-grey-share")
    except InputError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        summary = simulate_folder(arguments.in_dir, arguments.out_dir, setting_name, setting, arguments.seed,
                                  arguments.workers, arguments.max_grey_share, arguments.mask_channel)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{summary['n']} noisy masks in {arguments.out_dir}: Dice {summary['dice_mean']:.4f} "
          f"+- {summary['dice_std']:.4f}, noise rate {summary['noise_rate']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
