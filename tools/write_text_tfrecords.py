"""Seed-compatible write-tfrecords: ``--dataset_dir D --char_dict_dir C --save_dir S``."""

import argparse

from _seedcompat import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset_dir", required=True, help="holds Train/sample.txt, Test/sample.txt")
    p.add_argument("--char_dict_dir", default="char_dict", help="the three JSON maps")
    p.add_argument("--save_dir", required=True, help="record directory to write")
    p.add_argument("--validation_fraction", type=float, default=0.1)
    p.add_argument("--skip_bad", action="store_true")
    args = p.parse_args()
    from toolkit.records import write_tfrecords

    print(write_tfrecords(args.dataset_dir, args.char_dict_dir, args.save_dir,
                          validation_fraction=args.validation_fraction,
                          skip_bad=args.skip_bad).format())


if __name__ == "__main__":
    run(main)
