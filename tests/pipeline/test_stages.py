"""Stage contracts (`STAGE` in pipeline/stages/<name>.py) and the verbs built from them."""

import json

import pytest

from arc_pipeline import rundir
from arc_pipeline.cli import main
from arc_pipeline.stages import BY_NAME, PIPELINE, STAGES

RUNNER_OWNED = (rundir.CONFIG, rundir.MANIFEST)
NAMES = {v for k, v in vars(rundir).items() if k.isupper() and isinstance(v, str)}


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def test_every_read_is_written_by_an_earlier_stage():
    for i, stage in enumerate(PIPELINE):
        earlier = [w for s in PIPELINE[:i] for w in s.writes]
        for path in (*stage.reads, *stage.optional):
            assert path in NAMES, f"{stage.name} reads {path!r}, not a pipeline.rundir name"
            assert path in RUNNER_OWNED or any(_under(path, w) or _under(w, path) for w in earlier), \
                f"{stage.name} reads {path} but no stage before it writes it"


def test_no_two_stages_write_the_same_path():
    writes = [(w, s.name) for s in PIPELINE for w in s.writes]
    assert all(w in NAMES for w, _ in writes)
    for w, name in writes:
        others = [n for v, n in writes if n != name and (_under(v, w) or _under(w, v))]
        assert not others, f"{w} of {name} overlaps what {others} write"


def test_fingerprint_inputs_name_real_config():
    from arc_pipeline.config import load_config, section_dict

    cfg = load_config("smoke")
    for stage in PIPELINE:
        for ref in (*stage.config, *stage.unhashed):
            sec, _, key = ref.partition(".")
            assert sec in cfg.to_dict(), f"{stage.name}: no config section {sec!r}"
            assert not key or key in section_dict(getattr(cfg, sec)), f"{stage.name}: no key {ref!r}"
        for ref in stage.unhashed:
            assert ref.partition(".")[0] in stage.config, f"{stage.name}: {ref} is of a section it does not hash"


def _options(verb: str) -> set[str]:
    cmd = main.get_command(None, verb)
    return {o for p in cmd.params for o in getattr(p, "opts", ())}


def test_stage_verbs_take_only_the_options_they_use():
    common = {"--preset", "--config", "--set", "--run-dir", "--force"}
    data = {"--train", "--target", "--keep-overlap", "--skip-invalid"}
    for name in STAGES:
        opts = _options(name)
        assert common <= opts and "--time-budget" not in opts and "--from" not in opts
        assert data & opts == (data if name == "ingest" else set())
        assert ("--devices" in opts) == BY_NAME[name].distributed
    assert {"--from", "--force", "--time-budget", "--devices"} | data <= _options("run")


@pytest.mark.integration
def test_force_is_a_flag_everywhere_and_run_from_names_a_stage(tmp_path, cli):
    r = cli("run", "--run-dir", str(tmp_path), "--force", "build")
    assert r.exit_code == 2 and "build" in r.output  # a flag takes no stage name
    r = cli("run", "--run-dir", str(tmp_path), "--preset", "smoke", "--from", "bulid")
    assert r.exit_code == 2 and "ingest, build, train" in r.output


@pytest.mark.integration
def test_score_needs_a_submission_or_a_run_directory(tmp_path, cli):
    r = cli("score")
    assert r.exit_code == 2 and "--run-dir DIR" in r.output
    r = cli("score", str(tmp_path / "s.json"), "--run-dir", str(tmp_path))
    assert r.exit_code == 2 and "--run-dir" in r.output
    r = cli("score", "--run-dir", str(tmp_path), "--json")
    assert r.exit_code == 2 and "--json" in r.output


@pytest.mark.integration
def test_stage_verbs_in_a_run_directory_and_score_run_dir(tmp_path, cli):
    """ingest, submit (no predictions: the fallback) and `score --run-dir` as the README shows them."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\ntrain = ["arc1/training"]\ntarget = "arc1/evaluation"\nmax_side = 5\n'
                   "limit_train = 2\nlimit_target = 2\n")
    d = str(tmp_path / "run")
    for args in (["ingest", "--preset", "smoke", "--config", str(cfg)], ["submit"], ["score"]):
        r = cli(*args, "--run-dir", d)
        assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert manifest["score"]["status"] == "done" and "score.json" in manifest["score"]["outputs"]
    score = json.loads((tmp_path / "run" / "score.json").read_text())
    assert score["tasks"] == 2 and score["micro"] == manifest["score"]["summary"]["micro"]
    first = manifest["submit"]["start"]
    r = cli("submit", "--run-dir", d)  # cached: nothing reruns
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert r.exit_code == 0 and manifest["submit"]["start"] == first and "submit: cached" in r.output
    r = cli("submit", "--run-dir", d, "--force")  # reruns, and score goes stale
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert r.exit_code == 0 and manifest["submit"]["start"] > first
    assert manifest["score"]["status"] == "stale" and not (tmp_path / "run" / "score.json").exists()
    r = cli("score", d, "--json")  # the file form on the same directory
    assert r.exit_code == 0 and json.loads(r.output)["tasks"] == 2


def test_vote_settings_reach_predicts_fingerprint_only_when_changed():
    from arc_pipeline.config import load_config, override
    from arc_pipeline.stages.runner import fingerprints

    cfg = load_config("smoke")
    base = fingerprints(cfg)
    assert fingerprints(override(cfg, ["vote.top_k=10"])) == base  # the default: old run directories stay valid
    changed = fingerprints(override(cfg, ["vote.top_k=4"]))
    assert [s for s in STAGES if changed[s] != base[s]] == ["predict", "submit", "score", "report"]
