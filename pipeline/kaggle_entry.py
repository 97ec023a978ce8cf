#!/usr/bin/env python3
"""Kaggle entry point of an arc-pipeline bundle (`arc-pipeline bundle` copies it as run_kaggle.py).

Standard library only: it runs before the bundle's wheels are installed, so a valid submission
always lands. In order:
  1. choose the test file: --challenges, else the competition's own input folder by name
     (arc-prize-2025 before arc-prize-2024); any other folder never wins silently;
  2. write the identity fallback (every attempt = its test input) and kaggle_status.json;
  3. install the wheels offline and check that `pipeline` now imports from the installed package,
     never from a folder in the working directory (every child runs `python -P` in the work dir);
  4. run the pipeline under the budget (the full one when KAGGLE_IS_COMPETITION_RERUN is set or the
     test set is not Kaggle's public placeholder);
  5. when a stage fails, keep what exists: predict with the adapted model (its last checkpoint),
     else the pre-trained one without adaptation (adapt/init), then submit; tasks whose prediction
     failed fall back one by one inside predict;
  6. merge the run's submission.json into the fallback task by task (a task the run could not
     answer, e.g. one ingest found invalid or one too large for the checkpoint's canvas, keeps its
     identity answer), check it as Kaggle would, and write it over the fallback.
Every step's exit status is checked; kaggle_status.json says where every answer came from: `answers`
counts them per source (adapted | pretrained | checkpoint | identity), `source` is the model that
gave any (identity when none did) and `reason` says why. Every malformed input (the challenges file,
--budget, any option) is one line there. The exit status is 0 when some answer came from a model,
2 when no submission could be written, 3 when every answer is the identity fallback (the notebook
cell then fails visibly instead of committing a submission that predicts nothing).
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_ENV = "ARC_KAGGLE_ROOT"  # the folder holding input/ and working/ (default /kaggle): a simulated tree
RERUN_ENV = "KAGGLE_IS_COMPETITION_RERUN"  # set by Kaggle when it reruns the notebook on the hidden tasks
DEADLINE_ENV = "ARC_PIPELINE_DEADLINE"  # how a single stage command learns the run's deadline
CHALLENGES = "arc-agi_test_challenges.json"
COMPETITIONS = ("arc-prize-2025", "arc-prize-2024")  # best first
STATUS = "kaggle_status.json"
STAGES = ("ingest", "build", "train", "adapt", "predict", "submit", "score", "report")
CLOSING_S = 120.0  # kept after the run for the fallback predict, submit, validation and the copy
MAX_SIDE, COLORS = 30, 10
NO_SUBMISSION, ALL_FALLBACK = 2, 3  # exit statuses (see the docstring)


class EntryError(Exception):
    """A problem the entry cannot work around; the fallback submission stands."""


def one_line(text, limit=500):
    """`text` as one bounded line (a status reason never carries a traceback or a whole file)."""
    t = " ".join(str(text).split())
    return t if len(t) <= limit else t[: limit - 20] + f" ... ({len(t) - limit + 20} chars cut)"


def is_grid(g):
    """True for an ARC grid: 1..30 rows of the same 1..30 ints 0..9 (what Kaggle accepts)."""
    return (isinstance(g, list) and 1 <= len(g) <= MAX_SIDE and all(isinstance(r, list) for r in g)
            and 1 <= len(g[0]) <= MAX_SIDE and all(len(r) == len(g[0]) for r in g)
            and all(type(v) is int and 0 <= v < COLORS for r in g for v in r))


def log(msg):
    print(f"[arc-bundle {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def kaggle_root():
    return os.environ.get(ROOT_ENV) or "/kaggle"


def find_challenges(input_root, given=None):
    """(path, why): the test file to answer, chosen the same way on every run."""
    if given:
        if not os.path.isfile(given):
            raise EntryError(f"--challenges {given}: no such file")
        return given, "given with --challenges"
    hits = sorted(glob.glob(os.path.join(input_root, "**", CHALLENGES), recursive=True))
    if not hits:
        raise EntryError(f"no {CHALLENGES} under {input_root}; attach the competition data or pass --challenges PATH")
    by_folder = {}
    for p in hits:
        by_folder.setdefault(os.path.basename(os.path.dirname(p)), p)
    for name in COMPETITIONS:
        if name in by_folder:
            others = [p for p in hits if p != by_folder[name]]
            return by_folder[name], f"the competition folder {name}" + (f" (ignored: {', '.join(others)})" if others else "")
    years = sorted((m.group(1), p) for f, p in by_folder.items() if (m := re.fullmatch(r"arc-prize-(\d{4})", f)))
    if years:
        return years[-1][1], f"the newest arc-prize-YYYY folder ({years[-1][0]})"
    if len(hits) == 1:
        return hits[0], "the only one under the input folder"
    raise EntryError(f"{len(hits)} {CHALLENGES} files under {input_root} ({', '.join(hits)}) and none in a "
                     f"competition folder ({', '.join(COMPETITIONS)}); pass --challenges PATH")


def read_challenges(challenges):
    """The challenges file as {task_id: task}, or an EntryError in one line."""
    try:
        with open(challenges, encoding="utf-8") as f:
            tasks = json.load(f)
    except (OSError, ValueError) as e:  # ValueError: bad JSON or UTF-8, a number past Python's digit limit
        raise EntryError(f"{challenges}: unreadable ({type(e).__name__}: {one_line(e, 200)})") from None
    if not isinstance(tasks, dict) or not tasks:
        raise EntryError(f"{challenges}: not a JSON object of tasks ({type(tasks).__name__}"
                         f"{', empty' if tasks == {} else ''}); is it the competition's test file?")
    return tasks


def identity_submission(tasks):
    """Every attempt = its test input (a malformed test input: [[0]]; a task without a readable test
    list: one entry), so a valid submission exists before anything else runs."""
    def guess(p):
        g = p.get("input") if isinstance(p, dict) else None
        return g if is_grid(g) else [[0]]

    out = {}
    for tid, t in tasks.items():
        tests = t.get("test") if isinstance(t, dict) else None
        grids = [guess(p) for p in tests] if isinstance(tests, list) and tests else [[[0]]]
        out[tid] = [{"attempt_1": g, "attempt_2": g} for g in grids]
    return out


def merge(fallback, produced):
    """(the submission: `produced`'s entries for every task where they are whole and valid, the
    fallback's elsewhere; the task ids that kept the fallback)."""
    out, kept = {}, []
    for tid, entries in fallback.items():
        mine = produced.get(tid) if isinstance(produced, dict) else None
        ok = (isinstance(mine, list) and len(mine) == len(entries)
              and all(isinstance(e, dict) and is_grid(e.get("attempt_1")) and is_grid(e.get("attempt_2")) for e in mine))
        out[tid] = [{"attempt_1": e["attempt_1"], "attempt_2": e["attempt_2"]} for e in mine] if ok else entries
        if not ok:
            kept.append(tid)
    return out, kept


def answer_sources(submission, fallback, model):
    """Answers (test inputs) per source: an answer equal to the identity fallback counts as `identity`,
    any other as `model`'s."""
    counts = {model: 0, "identity": 0}
    for tid, entries in fallback.items():
        for mine, ident in zip(submission[tid], entries):
            counts["identity" if mine == ident else model] += 1
    return {k: v for k, v in counts.items() if v or k == "identity"}


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def seconds(text):
    t = str(text).strip().lower()
    try:
        return float(t)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", t)
        if not parts:
            raise EntryError(f"duration {text!r}: use seconds or e.g. 11h30m, 20m") from None
        return sum(float(a) * {"h": 3600, "m": 60, "s": 1}[u] for a, u in parts)


def gpus():
    if not shutil.which("nvidia-smi"):
        return 0
    done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in done.stdout.splitlines()) if done.returncode == 0 else 0


class Entry:
    """One notebook run: its paths, its deadline, and the status file it keeps true at every step."""

    def __init__(self, args, t0):
        self.args, self.t0 = args, t0
        self.out = os.path.abspath(args.out)
        self.workdir = os.path.abspath(args.workdir)
        self.run_dir = os.path.join(self.workdir, "run")
        self.status_path = os.path.join(os.path.dirname(self.out), STATUS)
        self.deadline = t0  # set once --budget parses (main)
        self.fallback = {}  # the identity submission: every answer's default
        self.status = {"source": "identity", "reason": "the fallback is written first; nothing better yet",
                       "answers": {}, "steps": [], "failed_tasks": []}

    def save(self, **fields):
        if "reason" in fields:
            fields["reason"] = one_line(fields["reason"])
        self.status.update(fields, elapsed_s=round(time.time() - self.t0, 1))
        write_json(self.status_path, self.status)

    def call(self, what, cmd, *, timeout=None, capture=False, env=None):
        """Run one child in the work dir; record its exit status. Returns (rc, stdout)."""
        log(f"{what}: {' '.join(cmd)}")
        t = time.time()
        try:
            done = subprocess.run(cmd, cwd=self.workdir, timeout=timeout, text=True, env=env,
                                  capture_output=capture)
            rc, out = done.returncode, (done.stdout or "") + (done.stderr or "") if capture else ""
        except subprocess.TimeoutExpired:
            rc, out = -9, ""
            log(f"{what}: overran its time and was stopped")
        self.status["steps"].append({"step": what, "rc": rc, "seconds": round(time.time() - t, 1)})
        self.save()
        if rc != 0:
            log(f"{what}: exited with {rc}")
        return rc, out

    def pipeline(self, *args):
        # -P: the working directory never shadows the installed package
        return [sys.executable, "-P", "-m", "arc_pipeline", *args]

    def left(self):
        return self.deadline - time.time()


def stages_of(run_dir):
    """The manifest's stage records ({} when the run never got that far)."""
    try:
        with open(os.path.join(run_dir, "manifest.json"), encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    stages = raw.get("stages") if isinstance(raw, dict) else None
    return {k: v for k, v in stages.items() if isinstance(v, dict)} if isinstance(stages, dict) else {}


def status_of(stages, name):
    return (stages.get(name) or {}).get("status", "pending")


def first_failure(stages):
    for name in STAGES:
        rec = stages.get(name) or {}
        if rec.get("status") in ("failed", "running"):
            return name, rec.get("note") or rec.get("status")
    return None, ""


def model_source(predict_summary, run_dir):
    """Which model the predictions came from: by the checkpoint predict read, else (a stage run
    recorded no checkpoint_path) by predict's own rule: adapt/latest, else adapt/init."""
    path = str(predict_summary.get("checkpoint_path") or "").replace(os.sep, "/")
    if not path:
        if os.path.isfile(os.path.join(run_dir, "adapt", "latest")):
            path = "adapt/latest"
        elif os.path.isfile(os.path.join(run_dir, "adapt", "init", "latest")):
            path = "adapt/init/latest"
    if path.startswith("adapt/init"):
        return "pretrained"
    if path.startswith("adapt/"):
        return "adapted"
    return "checkpoint"


def install(entry):
    pip = [sys.executable, "-P", "-m", "pip", "install", "-q", "--no-index", "--find-links",
           os.path.join(HERE, "wheels"), "arc-pipeline"]
    rc, _ = entry.call("install", pip)
    if rc == 0:
        log(f"installed in {time.time() - entry.t0:.0f}s")
    return rc == 0


def installed_location(entry):
    """Where `pipeline` imports from in a child (None: it does not import)."""
    rc, out = entry.call("import check", [sys.executable, "-P", "-c", "import arc_pipeline; print(arc_pipeline.__file__)"],
                         capture=True)
    lines = out.strip().splitlines()
    return lines[-1] if rc == 0 and lines else None


def is_placeholder(entry, challenges):
    if os.environ.get(RERUN_ENV):
        log(f"{RERUN_ENV} is set: the hidden test set is in place")
        return False
    rc, out = entry.call("placeholder check", [sys.executable, "-P", "-c",
                         "import sys; from arc_pipeline.bundle import is_placeholder; print(is_placeholder(sys.argv[1]))",
                         challenges], capture=True)
    if rc != 0:
        log("placeholder check failed; treating the test set as hidden (full budget)")
        return False
    return out.strip().splitlines()[-1:] == ["True"]


def run_pipeline(entry, challenges, budget_s, devices):
    a = entry.args
    # skip_invalid: a task that does not parse falls back alone (its identity answer), not the whole run
    cmd = entry.pipeline("run", "--preset", a.preset, "--target", challenges, "--run-dir", entry.run_dir,
                         "--time-budget", f"{max(budget_s, 1.0):.0f}s", "--devices", str(devices),
                         "--set", "run.checkpoint=" + a.checkpoint, "--set", "data.skip_invalid=true")
    for c in a.config:
        cmd += ["--config", c]
    for s in a.sets:
        cmd += ["--set", s]
    rc, _ = entry.call("pipeline run", cmd, timeout=budget_s + CLOSING_S)
    return rc


def recover(entry):
    """After a failed run: predict with what exists (adapted, else pre-trained), then submit.

    Predictions already made are kept: predict reruns only when it did not finish, submit only
    when it did not run after predict."""
    env = dict(os.environ, **{DEADLINE_ENV: repr(entry.deadline)})
    stages = stages_of(entry.run_dir)
    if status_of(stages, "build") != "done":
        return f"the run failed before the dataset was built ({first_failure(stages)[0] or 'unknown stage'})"
    if status_of(stages, "predict") != "done":
        rc, _ = entry.call("fallback predict", entry.pipeline("predict", "--run-dir", entry.run_dir), env=env,
                           timeout=max(entry.left(), 1.0) + CLOSING_S)
        if rc != 0:
            return "predict failed with every model at hand"
    stages = stages_of(entry.run_dir)
    if status_of(stages, "submit") != "done" or stages["submit"].get("start", 0) < stages["predict"].get("end", 0):
        rc, _ = entry.call("submit", entry.pipeline("submit", "--run-dir", entry.run_dir), env=env)
        if rc != 0:
            return "submit failed"
    return ""


class _Parser(argparse.ArgumentParser):
    """A malformed option is one line in kaggle_status.json too (beside argparse's usage message)."""

    def error(self, message):
        status = os.path.join(kaggle_root(), "working", STATUS)
        try:
            os.makedirs(os.path.dirname(status), exist_ok=True)
            write_json(status, {"source": "none", "reason": one_line(f"bad option: {message}"), "answers": {}})
        except OSError:
            pass
        super().error(message)


def main(argv=None):
    root = kaggle_root()
    ap = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--challenges", default=None, help="the test file (default: chosen under the input folder)")
    ap.add_argument("--input", default=os.path.join(root, "input"), help="where Kaggle mounts the data")
    ap.add_argument("--out", default=os.path.join(root, "working", "submission.json"))
    ap.add_argument("--workdir", default=os.path.join(root, "working", "arc-run"))
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "checkpoint"), help="the pre-trained checkpoint")
    ap.add_argument("--budget", default="11h30m", help="wall clock for everything this script does")
    ap.add_argument("--placeholder-budget", default="20m", help="budget when the test set is Kaggle's placeholder")
    ap.add_argument("--devices", type=int, default=None, help="default: the number of GPUs (1 without)")
    ap.add_argument("--preset", default=None, help="default: the bundle's (bundle.json), else kaggle")
    ap.add_argument("--config", action="append", default=[])
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--skip-install", action="store_true", help="use the arc-pipeline already installed")
    args = ap.parse_args(argv)
    bundle = _bundle_info()
    args.preset = args.preset or bundle.get("preset") or "kaggle"
    args.sets = list(bundle.get("sets", [])) + args.sets
    t0 = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    os.makedirs(os.path.abspath(args.workdir), exist_ok=True)
    entry = Entry(args, t0)
    try:
        challenges, why = find_challenges(args.input, args.challenges)
        entry.fallback = identity_submission(read_challenges(challenges))
    except EntryError as e:  # nothing to answer: no submission can be written at all
        entry.save(source="none", reason=str(e))
        log(f"error: {e}")
        return NO_SUBMISSION
    log(f"test file: {challenges} ({why})")
    write_json(entry.out, entry.fallback)
    total = sum(len(v) for v in entry.fallback.values())
    entry.save(challenges=challenges, challenges_reason=why, answers={"identity": total}, answers_total=total)
    log(f"identity fallback written to {entry.out} ({len(entry.fallback)} tasks, {total} test inputs)")
    try:
        entry.deadline = t0 + seconds(args.budget)
        seconds(args.placeholder_budget)
    except EntryError as e:
        reason = f"bad option: {e}"
    else:
        try:
            reason = attempt(entry, challenges)
        except Exception as e:  # noqa: BLE001 - whatever breaks here, the fallback and a true status stay
            reason = f"the entry script failed: {type(e).__name__}: {e}"
        try:
            finish(entry, reason)
        except Exception as e:  # noqa: BLE001 - the submission on disk is valid either way (atomic copies)
            entry.save(reason=f"{reason}; finishing failed: {type(e).__name__}: {e}".lstrip("; "))
            log(f"finishing failed ({type(e).__name__}: {e}); {entry.out} is the last valid submission written")
    if entry.status["source"] == "identity":
        if reason and "bad option" in reason:
            entry.save(reason=reason)
        log(f"error: every answer is the identity fallback (the test input): {entry.status['reason']}; "
            f"see {entry.status_path}")
        return ALL_FALLBACK
    return 0


def attempt(entry, challenges):
    """Everything after the fallback; returns '' or why the run's submission may be missing."""
    a = entry.args
    if not a.skip_install and not install(entry):
        return "the offline install failed"
    where = installed_location(entry)
    if where is None:
        return "arc-pipeline does not import after the install"
    if os.path.abspath(where).startswith(entry.workdir + os.sep):
        return f"pipeline imports from the work dir ({where}), not the installed package"
    log(f"pipeline imports from {where}")
    entry.save(package=where)
    placeholder = is_placeholder(entry, challenges)
    budget = min(seconds(a.placeholder_budget), entry.left()) if placeholder else entry.left()
    devices = a.devices if a.devices is not None else max(gpus(), 1)
    entry.save(placeholder=placeholder, devices=devices, budget_s=round(budget, 1))
    log(f"test set: {'placeholder (public tasks)' if placeholder else 'hidden tasks'}; run budget {budget:.0f}s")
    if run_pipeline(entry, challenges, budget - CLOSING_S, devices) == 0:
        return ""
    failed, error = first_failure(stages_of(entry.run_dir))
    log(f"the run failed at {failed or 'an unknown stage'}: {error}; recovering what it made")
    entry.save(run_failed_at=failed, run_error=error)
    return recover(entry) or f"{failed or 'the run'} failed: {error}"


def finish(entry, reason):
    """Merge the run's submission into the fallback task by task; write the status either way, with
    the source of every answer counted."""
    produced = os.path.join(entry.run_dir, "submission.json")
    stages = stages_of(entry.run_dir)
    predicted = status_of(stages, "predict") == "done" and status_of(stages, "submit") == "done"
    run_sub = None
    if predicted and os.path.exists(produced):
        try:
            with open(produced, encoding="utf-8") as f:
                run_sub = json.load(f)
        except (OSError, ValueError) as e:
            reason = f"the run's submission is unreadable ({e})" + (f"; {reason}" if reason else "")
    if run_sub is None:
        entry.save(reason=reason or "the run left no predictions")
        log(f"the identity fallback stands: {entry.status['reason']}")
    else:
        summary = stages["predict"].get("summary") or {}
        source = model_source(summary, entry.run_dir)
        merged, kept = merge(entry.fallback, run_sub)
        answers = answer_sources(merged, entry.fallback, source)
        t = time.time()
        write_json(entry.out, merged)  # every entry whole and a valid grid (merge checked), every task present
        entry.status["steps"].append({"step": "validate", "rc": 0, "seconds": round(time.time() - t, 1)})
        why = {"adapted": "the adapted model", "pretrained": "the pre-trained checkpoint without adaptation",
               "checkpoint": f"checkpoint {summary.get('checkpoint') or entry.args.checkpoint}"}[source]
        model = answers.get(source, 0)
        if model:
            text = f"{why}: {model} of {sum(answers.values())} answers"
        else:  # predict ran, yet nothing it gave reached the submission (no time, no usable checkpoint, ...)
            source = "identity"
            text = (f"every answer is the identity fallback: {why} gave none"
                    + (f" ({stages['predict']['note']})" if stages["predict"].get("note") else ""))
        entry.save(source=source, reason=text + (f" ({reason})" if reason else ""), answers=answers,
                   checkpoint=summary.get("checkpoint_path") or summary.get("checkpoint"),
                   failed_tasks=summary.get("failed_tasks", []), fallback_tasks=kept[:50],
                   fallback_tasks_count=len(kept))
        log(f"submission.json from {why}: answers by source: {', '.join(f'{k} {v}' for k, v in answers.items())}"
            + (f"; {len(kept)} task(s) kept the identity answer (the run had none for them)" if kept else ""))
    log(f"status in {entry.status_path}: source={entry.status['source']}; done in {time.time() - entry.t0:.0f}s")


def _bundle_info():
    """bundle.json beside this script: the preset and overrides the checkpoint was checked against."""
    try:
        with open(os.path.join(HERE, "bundle.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


if __name__ == "__main__":
    sys.exit(main())
