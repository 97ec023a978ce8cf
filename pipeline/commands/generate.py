"""`arc-pipeline generate sudoku|maze`: generated puzzle sets in the `source,question,answer,rating` CSV layout.

With `--test-count M`, M more puzzles go to a test file (default `<out>-test.csv`), inequivalent to
every train puzzle (Sudoku: by symmetry class; mazes: by wall layout).
"""

from __future__ import annotations

import json
from pathlib import Path

import click


def _test_path(out: Path, test_out: Path | None) -> Path:
    return test_out or out.with_name(f"{out.stem}-test{out.suffix or '.csv'}")


def _histogram(values, edges: list[float]) -> list[list[object]]:
    """Rows (range, count, share) over [edges[k], edges[k+1]); a zero-width first bin reads as exactly 0."""
    import numpy as np

    v = np.asarray(values, float)
    rows = []
    exact: float | None = None  # value already counted by a zero-width bin
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            n, label, exact = int((v == lo).sum()), f"{lo:g}", lo
        else:
            inside = (v >= lo) & (v < hi) & (v != exact)
            n = int(inside.sum())
            label = (f"> {lo:g}" if lo == exact else f">= {lo:g}") if hi == float("inf") else f"{'(' if lo == exact else '['}{lo:g}, {hi:g})"
        rows.append([label, n, f"{100 * n / max(len(v), 1):.1f}%"])
    return rows


@click.group("generate")
def generate() -> None:
    """Generate Sudoku or maze data sets (deterministic from --seed)."""


@generate.command("sudoku")
@click.option("--size", type=click.Choice(["4", "6", "9"]), default="6", show_default=True, help="Grid side (boxes 2x2, 2x3, 3x3).")
@click.option("--count", type=click.IntRange(1), required=True, help="Train puzzles to write.")
@click.option("--test-count", type=click.IntRange(0), default=0, show_default=True, help="Extra puzzles for a test file.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--difficulty", type=click.Choice(["easy", "medium", "hard"]), default="easy", show_default=True,
              help="easy: random minimal; medium: minimal needing a guess; hard: hill-climbed for solver effort.")
@click.option("--hard-steps", type=click.IntRange(1), default=400, show_default=True, help="Hill-climbing steps per hard search chain.")
@click.option("--per-chain", type=click.IntRange(1), default=16, show_default=True, help="Most hard puzzles kept from one chain.")
@click.option("--min-rating", type=click.FloatRange(0), default=None, help="Hard: mean guesses to reach [default: 20 for 9x9, 2 for 6x6].")
@click.option("--rate-transforms", type=click.IntRange(1), default=8, show_default=True, help="Random symmetries per rating in the hard search.")
@click.option("--final-transforms", type=click.IntRange(1), default=32, show_default=True, help="Random symmetries per written rating.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Train CSV.")
@click.option("--test-out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Test CSV [default: <out>-test.csv].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def sudoku(size, count, test_count, seed, difficulty, hard_steps, per_chain, min_rating, rate_transforms, final_transforms, out, test_out, as_json) -> None:
    """Sudoku with unique solutions, rated by mean solver guesses over random symmetries."""
    from augment.sudoku import save_csv
    from augment.sudoku_gen import SudokuGenConfig, generate as gen
    from pipeline import ui

    cfg = SudokuGenConfig(size=int(size), count=count, seed=seed, difficulty=difficulty, test_count=test_count,
                          rate_transforms=rate_transforms, final_transforms=final_transforms, hard_steps=hard_steps, per_chain=per_chain, min_rating=min_rating)
    with ui.progress(f"sudoku {size}x{size} {difficulty}", count + test_count, unit="puzzles") as advance:
        res = gen(cfg, on_progress=advance)
    save_csv(out, res.train)
    written = [str(out)]
    if test_count:
        save_csv(_test_path(out, test_out), res.test)
        written.append(str(_test_path(out, test_out)))
    import numpy as np

    ratings = np.concatenate([res.train.ratings, res.test.ratings])
    clues = np.concatenate([(res.train.questions > 0).sum(1), (res.test.questions > 0).sum(1)])
    report = {
        "files": written, "train": len(res.train), "test": len(res.test), "size": int(size), "difficulty": difficulty,
        "seconds": round(res.seconds, 3), "puzzles_per_s": round(len(ratings) / max(res.seconds, 1e-9), 2),
        "draws_or_chains": res.attempts, "duplicates": res.duplicates, "rating_mean": round(float(ratings.mean()), 3),
        "rating_max": round(float(ratings.max()), 3), "needs_guess": round(float((ratings > 0).mean()), 4),
        "clues_mean": round(float(clues.mean()), 2),
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    ui.info(f"wrote {', '.join(written)}: {report['train']} train + {report['test']} test puzzles in {report['seconds']} s "
            f"({report['puzzles_per_s']}/s, {res.duplicates} symmetric duplicates dropped)")
    ui.info(f"rating (mean guesses): mean {report['rating_mean']}, max {report['rating_max']}; "
            f"{100 * report['needs_guess']:.1f}% need a guess; {report['clues_mean']} clues on average")
    ui.table("difficulty (mean guesses)", ["rating", "puzzles", "share"], _histogram(ratings, [0, 0, 1, 2, 5, 10, 25, 55, 110, float("inf")]))


@generate.command("maze")
@click.option("--size", type=click.IntRange(5, 30), default=30, show_default=True, help="Maze side (cells).")
@click.option("--min-path", type=click.IntRange(1), default=None, help="Minimum shortest-path length in cells [default: 110 at 30x30, scaled].")
@click.option("--count", type=click.IntRange(1), required=True, help="Train mazes to write.")
@click.option("--test-count", type=click.IntRange(0), default=0, show_default=True, help="Extra mazes for a test file.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--perfect", is_flag=True, help="Spanning-tree mazes (unique path) instead of random obstacles.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Train CSV.")
@click.option("--test-out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Test CSV [default: <out>-test.csv].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def maze(size, min_path, count, test_count, seed, perfect, out, test_out, as_json) -> None:
    """Mazes labelled with a shortest path (deterministic tie-break), in `# SGo` characters."""
    import numpy as np

    from augment.maze import save_csv
    from augment.maze_gen import MazeGenConfig, default_min_path, generate as gen
    from pipeline import ui

    if min_path is None:
        min_path = default_min_path(size, perfect)
    cfg = MazeGenConfig(size=size, min_path=min_path, count=count, test_count=test_count, seed=seed, perfect=perfect)
    with ui.progress(f"maze {size}x{size}{' perfect' if perfect else ''}", count + test_count, unit="mazes") as advance:
        res = gen(cfg, on_progress=advance)
    save_csv(out, res.train)
    written = [str(out)]
    if test_count:
        save_csv(_test_path(out, test_out), res.test)
        written.append(str(_test_path(out, test_out)))
    lengths = np.concatenate([res.train.ratings, res.test.ratings])
    report = {
        "files": written, "train": len(res.train), "test": len(res.test), "size": size, "min_path": min_path,
        "perfect": perfect, "seconds": round(res.seconds, 3), "mazes_per_s": round(len(lengths) / max(res.seconds, 1e-9), 2),
        "layouts_tried": res.attempts, "duplicates": res.duplicates, "path_mean": round(float(lengths.mean()), 2),
        "path_max": int(lengths.max()),
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    ui.info(f"wrote {', '.join(written)}: {report['train']} train + {report['test']} test mazes in {report['seconds']} s "
            f"({report['mazes_per_s']}/s, {res.attempts} layouts tried)")
    lo = int(lengths.min())
    step = max(1, (int(lengths.max()) + 1 - lo + 7) // 8)
    ui.table("S-G distance (BFS steps)", ["steps", "mazes", "share"],
             _histogram(lengths, [float(lo + k * step) for k in range(9)]))
