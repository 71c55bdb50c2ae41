"""scripts/results_summary.py reads the run folders of scripts/reproduce_results.sh."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_run(folder: Path, top1: float) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(
        {"val_top1": top1, "holdout_top1": top1, "epochs": 3, "val_ece": 0.05,
         "val_ece_uncalibrated": 0.1}))


def test_fine_tuning_with_unlabelled_photos_is_tabled_with_paired_differences(tmp_path):
    scores = {("split_brain-e040", 0): 0.47, ("split_brain-e040", 1): 0.45,
              ("split_brain-e040", 2): 0.43, ("random", 0): 0.42, ("random", 1): 0.44,
              ("random", 2): 0.40}
    for (init, seed), top1 in scores.items():
        write_run(tmp_path / f"semi_long-joint_pseudo-{init}-20-s{seed}", top1)
    write_run(tmp_path / "semi-plain-random-20-s0", 0.37)
    write_run(tmp_path / "linprobe-random-all-s0", 0.48)
    (tmp_path / "semi_long-plain-random-20-s1").mkdir()  # unfinished: no summary.json
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_summary.py"),
                          str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert ("| 300 epochs | joint and pseudo-labels | 45.0 ± 2.0 | 42.0 ± 2.0 | +5.0, +1.0, +3.0 "
            "| 45.0 ± 2.0 / 42.0 ± 2.0 |") in out  # held-out = val in these runs
    assert "| 60 epochs | plain | not measured yet | 37.0 (n=1) | - |" in out
    assert "300 epochs | plain" not in out and "all labels per class" not in out


def test_bfloat16_runs_are_tabled_beside_float32(tmp_path):
    for seed, (fp32, bf16) in enumerate([(0.36, 0.35), (0.37, 0.36), (0.38, 0.37)]):
        write_run(tmp_path / f"finetune-split_brain-e040-20-s{seed}", fp32)
        write_run(tmp_path / f"bf16-finetune-split_brain-e040-20-s{seed}", bf16)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_summary.py"),
                          str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert "| 20 | 37.0 ± 1.0 | 36.0 ± 1.0 | -1.0, -1.0, -1.0 |" in out
    assert "| all |" not in out


def test_the_pairs_levers_are_tabled_against_random_init_of_their_backbone(tmp_path):
    pair = tmp_path / "pair"
    for seed, (random, pretrained) in enumerate([(0.25, 0.35), (0.26, 0.37), (0.27, 0.39)]):
        write_run(pair / f"linprobe-random_compact-20-s{seed}", random)
        write_run(pair / f"linprobe-compact-soft5-20-s{seed}", pretrained)
        knn = pair / f"knn-compact-soft5-20-s{seed}"
        knn.mkdir()
        (knn / "report.json").write_text(json.dumps({"top1": pretrained - 0.05}))
    (pair / "compact-soft5.quality.json").write_text(json.dumps(
        [{"chroma_ratio": 0.71, "l1": {"ratio_to_constant": 0.69, "ratio_to_photo_mean": 0.9}}]))
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_summary.py"),
                          str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert ("| compact-soft5 | 0.71 | 0.69 | 0.9 | 32.0 ± 2.0 | not measured yet | 37.0 ± 2.0 "
            "| +11.0 (± 2.2) |") in out
    assert "| random_compact | - | - | - | not measured yet | - | 26.0 ± 1.0 | - |" in out
    subprocess.run([sys.executable, str(ROOT / "scripts" / "results_summary.py"), str(tmp_path),
                    "--json", str(tmp_path / "all.json")], capture_output=True, check=True)
    saved = json.loads((tmp_path / "all.json").read_text())["pair"]
    assert saved["quality"]["compact-soft5"]["chroma_ratio"] == 0.71
    assert saved["linprobe/compact-soft5/20"]["top1_stats"] == {"mean": 37.0, "std": 2.0, "n": 3}
