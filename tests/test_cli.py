"""Every command through click's CliRunner, the seed-compatible scripts, and a kill -9 resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from toolkit.cli import main

REPO = Path(__file__).resolve().parent.parent


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


def test_help_does_not_import_tensorflow():
    code = ("import sys; from click.testing import CliRunner; from toolkit.cli import main; "
            "r = [CliRunner().invoke(main, [c, '--help']) for c in ('gen-images', 'build-char-dict', "
            "'write-tfrecords', 'train-shadownet', 'test-shadownet', 'demo', 'quickstart', 'export', "
            "'verify')]; "
            "assert all(x.exit_code == 0 for x in r); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_python_dash_m_toolkit():
    out = subprocess.run([sys.executable, "-m", "toolkit", "--help"], capture_output=True,
                         text=True, check=True)
    assert "train-shadownet" in out.stdout


def test_gen_images_augment_preset_and_balance(tmp_path, tiny_corpus, tiny_font):
    ds = tmp_path / "ds"
    r = run("gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir", ds,
            "--num-images", 20, "--min-chars", 2, "--max-chars", 4, "--augment", "robust",
            "--balance", 0.3)
    assert r.exit_code == 0, r.output
    config = json.loads((ds / "gen_config.json").read_text(encoding="utf-8"))["config"]
    assert config["balance"] == 0.3 and config["jitter_prob"] > 0 and config["font_size"] == [20, 48]
    r = run("gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir", tmp_path / "x",
            "--num-images", 2, "--augment", "fancy")
    assert r.exit_code != 0 and "fancy" in r.output


def test_gen_images_config_file_over_the_preset(tmp_path, tiny_corpus, tiny_font):
    partial = tmp_path / "margins.json"
    partial.write_text('{"margin_y": [0.2, 0.5], "noise_prob": 0.0}', encoding="utf-8")
    ds = tmp_path / "ds"
    r = run("gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir", ds,
            "--num-images", 6, "--min-chars", 2, "--max-chars", 4, "--augment", "robust",
            "--config", partial, "--balance", 0.1)
    assert r.exit_code == 0, r.output
    config = json.loads((ds / "gen_config.json").read_text(encoding="utf-8"))["config"]
    assert config["margin_y"] == [0.2, 0.5] and config["noise_prob"] == 0.0  # the file
    assert config["font_size"] == [20, 48] and config["balance"] == 0.1  # the preset, the option
    # a dataset's gen_config.json renders the same images again
    again = tmp_path / "again"
    r = run("gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir", again,
            "--num-images", 6, "--config", ds / "gen_config.json")
    assert r.exit_code == 0, r.output
    assert json.loads((again / "gen_config.json").read_text(encoding="utf-8"))["config"] == config
    names = sorted(p.relative_to(ds) for p in (ds / "images").rglob("*.jpg"))
    assert names and all((ds / n).read_bytes() == (again / n).read_bytes() for n in names)
    for text, what in (('{"margin_why": [0, 1]}', "margin_why"), ("[1, 2]", "JSON object"),
                       ('{"margin_y": [0.5, 0.1]}', "margin_y"), ("{oops", "not a JSON")):
        bad = tmp_path / "bad.json"
        bad.write_text(text, encoding="utf-8")
        r = run("gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir",
                tmp_path / "never", "--num-images", 2, "--config", bad)
        assert r.exit_code != 0 and what in r.output and "bad.json" in r.output, r.output
        assert not (tmp_path / "never").exists()


def test_full_pipeline_through_cli(tmp_path, tiny_corpus, tiny_font):
    ds, cd, rec, md = tmp_path / "ds", tmp_path / "cd", tmp_path / "rec", tmp_path / "model"
    r = run("gen-images", "--corpus", tiny_corpus, "--font", tiny_font, "--output-dir", ds,
            "--num-images", 60, "--min-chars", 2, "--max-chars", 4, "--test-fraction", 0.3)
    assert r.exit_code == 0, r.output
    assert (ds / "Train" / "sample.txt").exists() and (ds / "preview.png").exists()
    r = run("build-char-dict", "--char-dict-file", ds / "chinese.txt", "--save-dir", cd)
    assert r.exit_code == 0 and "num_classes" in r.output
    r = run("write-tfrecords", "--dataset-dir", ds, "--char-dict-dir", cd, "--save-dir", rec)
    assert r.exit_code == 0 and "train:" in r.output, r.output
    r = run("train-shadownet", "--dataset-dir", rec, "--char-dict-dir", cd, "--model-dir", md,
            "--steps", 3, "--batch-size", 4, "--model-size", "tiny", "--warmup-steps", 1,
            "--decay-steps", 20)  # a first stage: stops at step 3 of a 21-step schedule
    assert r.exit_code == 0, r.output
    assert "step 3" in r.output

    def schedule():
        train = json.loads((md / "shadownet.json").read_text(encoding="utf-8"))["train"]
        return train["warmup_steps"], train["decay_steps"]

    assert schedule() == (1, 20)
    r = run("train-shadownet", "--dataset-dir", rec, "--char-dict-dir", cd, "--model-dir", md,
            "--steps", 5, "--batch-size", 4)
    assert r.exit_code == 0 and "resumed from" in r.output and "step 5" in r.output, r.output
    assert schedule() == (1, 20)  # the next stage continues the saved schedule
    r = run("train-shadownet", "--dataset-dir", rec, "--char-dict-dir", cd, "--model-dir", md,
            "--steps", 6, "--batch-size", 4, "--decay-steps", 5)
    assert r.exit_code == 0 and "step 6" in r.output, r.output
    assert schedule() == (1, 5)  # given again on resume: the schedule is replaced (ends sooner)
    r = run("test-shadownet", "--dataset-dir", rec, "--weights-path", md, "--verbose")
    assert r.exit_code == 0, r.output
    assert "CER" in r.output and "line accuracy" in r.output and "per-char accuracy" in r.output
    assert "**** predict label:" in r.output
    out = tmp_path / "demo.tsv"
    image_dir = ds / "images" / "0000"
    prefix = md / "checkpoints" / "ckpt-6"  # a checkpoint prefix names no file: it is accepted
    r = run("demo", "--image-path", image_dir, "--weights-path", prefix, "--output", out)
    assert r.exit_code == 0, r.output
    printed = [line for line in r.output.splitlines() if "\t" in line]
    assert len(printed) == len(list(image_dir.glob("*.jpg")))
    path, text, conf = printed[0].split("\t")
    assert Path(path).exists() and 0 <= float(conf) <= 1
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["path", "text", "confidence", "blank", "error"]
    assert ["\t".join(row[:3]) for row in rows[1:]] == printed


def test_weights_path_that_names_nothing_is_a_usage_error(tmp_path):
    r = run("demo", "--image-path", tmp_path, "--weights-path", tmp_path / "ckpt-7")
    assert r.exit_code == 2 and "'" + str(tmp_path / "ckpt-7") + "' does not exist" in r.output
    assert "ckpt-7.index" in r.output


def test_bad_input_is_one_clear_error(tmp_path):
    bad = tmp_path / "chinese.txt"
    bad.write_text("春\n春\n", encoding="utf-8")
    r = run("build-char-dict", "--char-dict-file", bad, "--save-dir", tmp_path / "cd")
    assert r.exit_code == 1
    assert "chinese.txt:2: duplicate char '春'" in r.output
    assert "Traceback" not in r.output


def test_demo_without_model_says_what_to_do(tmp_path, monkeypatch, tiny_dataset):
    import toolkit.paths

    monkeypatch.setattr(toolkit.paths, "MODEL_DIR", tmp_path / "nothing")
    r = run("demo", "--image-path", tiny_dataset / "preview.png")
    assert r.exit_code == 2 and "no --weights-path given" in r.output


def test_seed_scripts(tmp_path, tiny_dataset, tiny_model, tiny_records):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, str(REPO / "tools" / "establish_char_dict.py"),
                          "--char_dict_file", str(tiny_dataset / "chinese.txt"),
                          "--save_dir", str(tmp_path / "cd")], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "cd" / "ord_2_index_map.json").exists()
    image = next((tiny_dataset / "images" / "0000").glob("*.jpg"))
    out = subprocess.run([sys.executable, str(REPO / "tools" / "demo_shadownet.py"),
                          "--image_path", str(image), "--weights_path", str(tiny_model)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert str(image) in out.stdout


def _wait_for(path_glob, deadline):
    while time.time() < deadline:
        found = sorted(Path(path_glob[0]).glob(path_glob[1]))
        if found:
            return found
        time.sleep(0.2)
    return []


def test_sigkill_during_training_resumes_from_last_checkpoint(tmp_path, tiny_records,
                                                              tiny_char_dict):
    md = tmp_path / "model"
    cmd = [sys.executable, "-m", "toolkit", "train-shadownet", "--dataset-dir", str(tiny_records),
           "--char-dict-dir", str(tiny_char_dict), "--model-dir", str(md), "--steps", "100000",
           "--batch-size", "4", "--model-size", "tiny", "--checkpoint-every", "5",
           "--eval-every", "100000"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        found = _wait_for((md / "checkpoints", "ckpt-10.index"), time.time() + 120)
        assert found, "no checkpoint within 120 s"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    from toolkit.checkpoints import latest_checkpoint

    last = latest_checkpoint(md)
    step = int(last.rsplit("-", 1)[1])
    assert step >= 10
    r = run("train-shadownet", "--dataset-dir", tiny_records, "--char-dict-dir", tiny_char_dict,
            "--model-dir", md, "--steps", step + 2, "--batch-size", 4)
    assert r.exit_code == 0, r.output
    assert f"resumed from {last}" in r.output and f"step {step + 2}," in r.output


def test_quickstart_small(tmp_path):
    out = tmp_path / "qs"
    r = run("quickstart", "--output-dir", out, "--num-images", 80, "--steps", 4, "--workers", 1)
    assert r.exit_code == 0, r.output
    assert "resumed from" in r.output and "ground truth:" in r.output
    assert (out / "model" / "checkpoints").is_dir() and (out / "tfrecords" / "metadata.json").exists()
    from toolkit.checkpoints import latest_checkpoint

    assert latest_checkpoint(out / "model").endswith("ckpt-4")


def test_help_lists_the_stages_in_pipeline_order_then_the_utilities():
    out = run("--help").output
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    stages = ["gen-images", "build-char-dict", "write-tfrecords", "train-shadownet", "test-shadownet",
              "demo", "export", "compare"]
    assert listed[:len(stages)] == stages
    assert {"merge-shards", "quickstart", "verify"} <= set(listed[len(stages):])
    assert listed[len(stages):] == sorted(listed[len(stages):])
