"""Seed-compatible train-shadownet: ``--dataset_dir D [--weights_path CKPT] [--train_num N]``.

``--train_num`` is the number of steps, as in the original; the model directory defaults to
``model/shadownet_run`` and the char dict to ``char_dict/``.
"""

import argparse

from _seedcompat import run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset_dir", required=True, help="record directory")
    p.add_argument("--char_dict_dir", default="char_dict")
    p.add_argument("--model_dir", default="model/shadownet_run")
    p.add_argument("--weights_path", default=None, help="resume from this checkpoint")
    p.add_argument("--train_num", type=int, default=10000, help="train until this step")
    p.add_argument("--batch_size", type=int, default=32)
    args = p.parse_args()
    from toolkit.train import TrainConfig, train

    r = train(args.dataset_dir, args.char_dict_dir, args.model_dir, weights_path=args.weights_path,
              config=TrainConfig(steps=args.train_num, batch_size=args.batch_size))
    print(f"step {r.step}, loss {r.loss:.4f}, checkpoint {r.checkpoint}")


if __name__ == "__main__":
    run(main)
