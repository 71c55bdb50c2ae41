"""The keras-sb command line: subcommands and their help, train.py's form, argument errors,
the classifier's part options, checks before long work, and parsing without TensorFlow."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import keras_sb
from keras_sb import commands
from keras_sb.cli import STAGES, as_subcommand, main, parse
from keras_sb.constants import SAMPLE_DATA
from keras_sb.training import pretrain as pretraining_module
from keras_sb.training.classifier_pipeline import (
    FEW_LABELS_FINETUNE,
    check_inputs,
    flag_renamer,
    recipe_for_label_count,
    report_ready,
)
from keras_sb.training.config import (
    PARTS,
    ClassifierPipelineConfig,
    EvaluateConfig,
    PretrainConfig,
    default_eval_out,
    flag_fields,
    part_options,
)

ROOT = Path(__file__).resolve().parent.parent


def help_text(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_lists_only_its_own_options(stage, capsys):
    text = help_text(capsys, [stage, "--help"])
    assert text.startswith(f"usage: keras-sb {stage} [options]\n")
    own = {"--" + f.name.replace("_", "-") for f in flag_fields(STAGES[stage].config)}
    for other in STAGES.values():
        for f in flag_fields(other.config):
            name = "--" + f.name.replace("_", "-")
            assert (f"  {name} " in text or f"  {name}," in text) == (name in own), name
    assert "(default: '')" not in text and SAMPLE_DATA not in text
    assert "site-packages" not in text and "finetune/linprobe" not in text


def test_no_arguments_print_the_stages_and_version(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: keras-sb STAGE [options]") and all(s in text for s in STAGES)
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"keras-sb {keras_sb.__version__}\n"


@pytest.mark.parametrize(("argv", "expected"), [
    (["--stage", "knn", "--k", "3"], ["knn", "--k", "3"]),
    (["--model", "x", "--stage=evaluate"], ["evaluate", "--model", "x"]),
    (["--epochs", "2"], ["pretrain", "--epochs", "2"]),  # train.py's default stage
    (["finetune", "--epochs", "2"], ["finetune", "--epochs", "2"]),
])
def test_train_py_form_is_the_subcommand(argv, expected):
    assert as_subcommand(argv) == expected
    assert parse(argv) == parse(expected)


def test_train_py_spelling_in_usage_and_next_steps(capsys):
    with pytest.raises(SystemExit):
        main(["--stage", "knn", "--help"], spelling="python train.py")
    assert capsys.readouterr().out.startswith("usage: python train.py --stage knn [options]")
    with commands.spelled(commands.SPELLINGS["python train.py"]):
        assert commands.command("export") == "python train.py --stage export"
        assert commands.command("demo") == "python app.py"
    assert (commands.command("export"), commands.command("demo")) == ("keras-sb export",
                                                                     "keras-sb demo")


@pytest.mark.parametrize(("argv", "message"), [
    (["evaluate", "--epochs", "3", "--model", "m"],
     "--epochs does not apply to evaluate (an option of pretrain, finetune, linprobe)"),
    (["pretrain", "--epocs", "3"], "unrecognized arguments: --epocs 3 (did you mean --epochs?)"),
    (["classifier", "--learning-rate", "0.1"], "take --PART-learning-rate"),
    (["export", "--out", "x"], "--model is required"),
    (["demo", "--modle", "x"], "(did you mean --model?)"),
    (["classifier", "--finetune-learning-rate", "nan"],
     "--finetune-learning-rate must be a finite number"),
    (["classifier", "--finetune-epocs", "3"], "(did you mean --finetune-epochs?)"),
])
def test_argument_errors_are_one_usage_line_and_a_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 2, err


def test_an_unknown_stage_is_named():
    with pytest.raises(SystemExit) as exited:
        main(["pretrian"])
    assert exited.value.code == 2


def test_classifier_takes_every_option_of_its_parts(capsys):
    text = help_text(capsys, ["classifier", "--help"])
    for part in PARTS:
        options = part_options(part)
        assert options
        for f in options:
            assert f"--{part}-{f.name.replace('_', '-')}" in text
    names = {f.name for f in part_options("finetune")}
    assert {"epochs", "learning_rate", "patience", "head"} <= names
    assert not names & {"data", "out", "init", "seed", "encoder", "width"}  # set by the command
    stage, settings = parse(["classifier", "--pretrain-epochs", "1", "--finetune-epochs", "3",
                             "--finetune-learning-rate", "1e-4", "--finetune-freeze-encoders"])
    assert settings["settings"] == {"pretrain": {"epochs": 1}, "finetune": {
        "epochs": 3, "learning_rate": 1e-4, "freeze_encoders": True}}
    config = ClassifierPipelineConfig(**settings)
    assert config.pretraining().epochs == 1
    classifier = config.classifier("random")
    assert (classifier.epochs, classifier.learning_rate, classifier.freeze_encoders) == (3, 1e-4,
                                                                                    True)


def test_classifier_refuses_the_other_parts_options():
    with pytest.raises(ValueError, match="--linprobe-epochs apply to --then linprobe"):
        ClassifierPipelineConfig(settings={"linprobe": {"epochs": 3}})


def test_part_messages_name_the_classifiers_options():
    rename = flag_renamer("finetune")
    assert (rename("pass more --epochs, or --overwrite; --out x --top-k 3 --epochs-x")
            == "pass more --finetune-epochs, or --finetune-overwrite; --out x "
               "--finetune-top-k 3 --epochs-x")


@pytest.fixture
def labelled(tmp_path) -> Path:
    """Plain <class>/ folders: the shipped sample's training images."""
    return Path(shutil.copytree(Path(SAMPLE_DATA) / "supervised" / "train", tmp_path / "lab"))


@pytest.mark.parametrize(("labels_per_class", "message"), [
    ("30", "--labels-per-class 30"), ("0", "a classifier needs at least 2 class subfolders")])
def test_classifier_checks_the_labelled_images_before_pretraining(
        labels_per_class, message, labelled, tiny_unlabelled, tmp_path, capsys):
    if labels_per_class == "0":
        for extra in sorted(labelled.iterdir())[1:]:
            shutil.rmtree(extra)
    out = tmp_path / "mine"
    assert main(["classifier", "--data", str(tiny_unlabelled), "--labelled", str(labelled),
                 "--labels-per-class", labels_per_class, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing pretrained, nothing written


def test_classifier_checks_the_feature_layer_before_pretraining(tiny_unlabelled, tmp_path,
                                                                capsys):
    out = tmp_path / "mine"
    assert main(["classifier", "--data", str(tiny_unlabelled), "--encoder", "alex",
                 "--finetune-feature-layer", "conv9", "--out", str(out)]) == 2
    assert "--finetune-feature-layer: 'conv9' is not a stage of the alex backbone" in \
        capsys.readouterr().err
    assert not out.exists()


def test_evaluate_scores_a_class_folder_into_a_report_named_after_it(tmp_path):
    test_set = Path(SAMPLE_DATA) / "supervised" / "val"
    config = EvaluateConfig(model=str(tmp_path / "best.keras"), data=str(test_set))
    assert (config.split, Path(config.out)) == ("train", tmp_path / "eval-val")
    layout = EvaluateConfig(model=str(tmp_path), data=SAMPLE_DATA)
    assert (layout.split, Path(layout.out)) == ("val", tmp_path / "eval-val")
    folder = tmp_path / "holiday_photos"
    shutil.copytree(test_set, folder)
    assert main(["evaluate", "--model", keras_sb.DEFAULT_MODEL, "--data", str(folder),
                 "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.json").is_file()
    assert Path(EvaluateConfig(model=str(tmp_path), data=str(folder)).out).name == \
        "eval-holiday_photos"


def test_evaluate_scores_a_folder_of_some_of_the_models_classes(tmp_path, monkeypatch, caplog,
                                                                capsys):
    """Two of the shipped model's ten classes: scored with the model's full output, the eight
    others listed as absent; the report goes to runs/eval-MODEL-FOLDER/ in the working
    folder, not into the installed package; a class the model lacks is named."""
    caplog.set_level("INFO", logger="keras_sb")
    folder = tmp_path / "two classes!"
    for name in ("tench", "church"):
        shutil.copytree(Path(SAMPLE_DATA) / "supervised" / "val" / name, folder / name)
    package_files = sorted(Path(keras_sb.DEFAULT_MODEL).parent.rglob("*"))
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--model", keras_sb.DEFAULT_MODEL, "--data", str(folder)]) == 0
    assert sorted(Path(keras_sb.DEFAULT_MODEL).parent.rglob("*")) == package_files
    report = json.loads((tmp_path / "runs" / "eval-default_model-classifier-two_classes" /
                         "report.json").read_text())
    absent = sorted(set(report["class_names"]) - {"tench", "church"})
    assert report["images"] == 20 and len(report["class_names"]) == 10
    assert report["absent_classes"] == absent
    assert {name: row["images"] for name, row in report["per_class"].items()} == {
        name: 10 if name in ("tench", "church") else 0 for name in report["class_names"]}
    assert f"8 of the model's 10 classes have no images in {folder}" in caplog.text
    assert "(95 % interval " in caplog.text  # 20 images: a noisy figure
    (folder / "zebra").mkdir()
    shutil.copy(next((folder / "tench").iterdir()), folder / "zebra")
    assert main(["evaluate", "--model", keras_sb.DEFAULT_MODEL, "--data", str(folder)]) == 2
    assert "was not trained on: zebra (its classes: cassette_player, " in capsys.readouterr().err


def test_parsing_imports_no_tensorflow():
    """--help and argument errors answer before TensorFlow loads (keras_sb_cli defers it)."""
    code = ("import sys, keras_sb_cli\n"
            "parser, parsers = keras_sb_cli.cli.build_parsers()\n"
            "texts = [p.format_help() for p in parsers.values()]\n"
            "keras_sb_cli.cli.parse(['classifier', '--finetune-epochs', '3'])\n"
            "assert keras_sb_cli.cli.main(['evaluate', '--epochs', '3']) == 2\n"
            "assert keras_sb_cli.cli.main(['classifier', '--finetune-epochs', '0']) == 2\n"
            "loaded = sorted({'tensorflow', 'keras', 'gradio'} & set(sys.modules))\n"
            "print(loaded, len(texts))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == f"[] {len(STAGES) + 1}"



def test_a_classifier_folder_given_as_model_names_its_runs(tmp_path, capsys):
    for part in ("pretrain", "finetune"):
        (tmp_path / "mine" / part).mkdir(parents=True)
        shutil.copy(keras_sb.DEFAULT_MODEL, tmp_path / "mine" / part / "best.keras")
    assert main(["evaluate", "--model", str(tmp_path / "mine")]) == 2
    assert f"(it holds the runs {tmp_path / 'mine' / 'finetune'}, " in capsys.readouterr().err


def test_classifier_fine_tunes_on_its_pretraining_photos(tmp_path):
    """--finetune-pretext-weight (or a pseudo-label threshold) trains on the unlabelled
    photos of --data, which need not lie beside the labelled ones."""
    labelled = tmp_path / "labelled"
    for name in ("church", "chain_saw"):
        shutil.copytree(Path(SAMPLE_DATA) / "supervised" / "train" / name, labelled / name)
    config = ClassifierPipelineConfig(data=SAMPLE_DATA, labelled=str(labelled),
                                      settings={"finetune": {"pretext_weight": 1.0}})
    assert config.classifier("random").unlabelled == str(Path(SAMPLE_DATA).resolve())
    plain = ClassifierPipelineConfig(data=SAMPLE_DATA, labelled=str(labelled))
    assert plain.classifier("random").unlabelled == ""


def test_classifier_fine_tunes_with_unlabelled_photos_when_labels_are_few(caplog, monkeypatch,
                                                                          capsys):
    """At most FEW_LABELS labelled images per class: the measured few-label recipe, except
    where the command sets a value; more: plain fine-tuning; the log says which and why."""
    caplog.set_level("INFO", logger="keras_sb")
    few = ClassifierPipelineConfig(labels_per_class=3,
                                   settings={"finetune": {"epochs": 7, "pretext_weight": 0.0}})
    finetune = recipe_for_label_count(few, check_inputs(few)).classifier("random")
    assert (finetune.epochs, finetune.pretext_weight) == (7, 0.0)  # the command's own
    assert (finetune.pseudo_label_threshold, finetune.patience, finetune.lr_decay) == tuple(
        FEW_LABELS_FINETUNE[name] for name in ("pseudo_label_threshold", "patience", "lr_decay"))
    assert finetune.unlabelled == str(Path(SAMPLE_DATA).resolve())
    assert "3 labelled training images per class (at most 50): fine-tuning also trains" \
        in caplog.text
    assert "--finetune-pseudo-label-threshold 0.95" in caplog.text
    assert "--finetune-epochs 300" not in caplog.text
    linprobe = ClassifierPipelineConfig(labels_per_class=3, then="linprobe")
    assert recipe_for_label_count(linprobe, check_inputs(linprobe)) is linprobe
    monkeypatch.setattr("keras_sb.training.classifier_pipeline.FEW_LABELS", 2)
    plain = ClassifierPipelineConfig(labels_per_class=3)
    chosen = recipe_for_label_count(plain, check_inputs(plain))
    assert chosen.classifier("random") == plain.classifier("random")
    assert "3 labelled training images per class (more than 2): plain fine-tuning" in caplog.text
    text = " ".join(help_text(capsys, ["classifier", "--help"]).split())
    assert ("with at most 50 labelled training images per class, --finetune-pretext-weight 1.0 "
            "--finetune-pseudo-label-threshold 0.95 --finetune-epochs 300") in text


def test_classifier_help_shows_the_defaults_that_apply(capsys):
    """The few-label recipe's values beside the plain defaults; the unlabelled photos of the
    classifier command are its pretraining photos."""
    text = " ".join(help_text(capsys, ["classifier", "--help"]).split())
    assert ("--finetune-epochs EPOCHS maximum epochs (default: 30; 300 with at most 50 "
            "labelled training images per class)") in text
    for name, value in FEW_LABELS_FINETUNE.items():
        option_help = text.split(f"--finetune-{name.replace('_', '-')} {name.upper()} ")[1]
        assert (f"; {value:g} with at most 50 labelled training images per class)"
                in option_help.split(" --finetune-")[0]), name
    assert "in the classifier command, the photos it pretrains on" in text


@pytest.mark.parametrize(("images", "noisy"), [(20, True), (100, False)])
def test_classifier_ends_with_its_score_and_the_evaluate_command(images, noisy, caplog):
    """Under 100 held-out images the score comes with its 95 % interval and a word on the
    noise; the last advice is evaluate on a test folder."""
    caplog.set_level("INFO", logger="keras_sb")
    classifier = ClassifierPipelineConfig(out="runs/mine").classifier("random")
    report_ready(classifier, {"holdout_top1": 0.25, "holdout_images": images})
    lines = caplog.text.splitlines()
    assert (f"Held-out top-1 0.2500 on {images} images (95 % interval 0.11-0.47, Wilson: a "
            "noisy figure from under 100 images)." in caplog.text) == noisy
    assert f"Held-out top-1 0.2500 on {images} images" in caplog.text
    assert lines[-1].endswith("keras-sb evaluate --model runs/mine/finetune --data TESTFOLDER.")


def test_the_pretrain_command_says_what_to_run_next(monkeypatch, caplog):
    """The advice is the pretrain command's; the classifier command runs the next part itself
    (test_supervised.py::test_one_command_from_folders_to_a_classifier)."""
    monkeypatch.setattr(pretraining_module, "pretrain", lambda config: {"epochs": 1})
    caplog.set_level("INFO", logger="keras_sb")
    assert pretraining_module.pretrain_command(PretrainConfig(out="runs/p")) == {"epochs": 1}
    assert "Next: keras-sb linprobe --init runs/p --data LABELLED" in caplog.text


def test_evaluate_reports_beside_a_model_in_a_folder_it_cannot_write_go_to_runs():
    """Tried, not read from the permission bits (which let root write anywhere): /proc takes
    no new folder even from root."""
    assert default_eval_out("/proc/self/best.keras", "val") == str(
        Path("runs") / "eval-self-best-val")
    assert default_eval_out("/tmp/some run/best.keras", "val") == "/tmp/some run/eval-val"
