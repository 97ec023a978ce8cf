"""`arc-pipeline generate sudoku|maze`: generated puzzle sets in the `source,question,answer,rating` CSV layout.

With `--test-count M`, M more puzzles go to a test file (default `<out>-test.csv`), inequivalent to
every train puzzle (Sudoku: by symmetry class and search chain; mazes: by wall layout).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

CSV = click.Path(dir_okay=False, path_type=Path)
WORKERS = click.option("--workers", type=click.IntRange(0), default=None,
                       help="Processes drawing in parallel (0 = every core) [default: every core for hard Sudoku, "
                            "large 9x9 and obstacle mazes, else one]; the output does not depend on it.")


def _histogram(values, edges: list[float]) -> list[list[object]]:
    """Rows (range, count, share) per bin (see augment.puzzles.domain.bin_rows)."""
    from arc_pipeline.augment.puzzles.domain import bin_rows

    n = max(len(values), 1)
    return [[label, int(m.sum()), f"{100 * int(m.sum()) / n:.1f}%"] for label, m in bin_rows(values, edges)]


def _write(res, out: Path, test_out: Path | None, save) -> list[str]:
    save(out, res.train)
    written = [str(out)]
    if len(res.test):
        test_path = test_out or out.with_name(f"{out.stem}-test{out.suffix or '.csv'}")
        save(test_path, res.test)
        written.append(str(test_path))
    return written


@click.group("generate")
def generate() -> None:
    """Generate Sudoku or maze data sets (deterministic from --seed)."""


@generate.command("sudoku")
@click.option("--size", type=click.Choice(["4", "6", "9"]), default="6", show_default=True,
              help="Grid side (boxes 2x2, 2x3, 3x3).")
@click.option("--count", type=click.IntRange(1), required=True, help="Train puzzles to write.")
@click.option("--test-count", type=click.IntRange(0), default=0, show_default=True, help="Extra puzzles for a test file.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--difficulty", type=click.Choice(["easy", "medium", "hard"]), default="easy", show_default=True,
              help="easy: random minimal; medium: minimal needing a guess; hard: hill-climbed for solver effort.")
@click.option("--hard-steps", type=click.IntRange(1), default=800, show_default=True,
              help="Hill-climbing steps per hard search chain.")
@click.option("--per-chain", type=click.IntRange(1), default=16, show_default=True,
              help="Most hard puzzles kept from one chain.")
@click.option("--min-rating", type=click.FloatRange(0), default=None,
              help="Hard: mean guesses to reach [default: 20 for 9x9, 2 for 6x6].")
@click.option("--rate-transforms", type=click.IntRange(1), default=8, show_default=True,
              help="Random symmetries per rating inside the hard search.")
@click.option("--final-transforms", type=click.IntRange(1), default=32, show_default=True,
              help="Random symmetries per written rating.")
@click.option("--out", type=CSV, required=True, help="Train CSV.")
@click.option("--test-out", type=CSV, default=None, help="Test CSV [default: <out>-test.csv].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@WORKERS
def sudoku(size: str, out: Path, test_out: Path | None, as_json: bool, workers: int | None, **options) -> None:
    """Sudoku with unique solutions, rated by mean solver guesses over random symmetries."""
    from arc_pipeline.augment.puzzles.domain import SUDOKU_BINS
    from arc_pipeline.augment.puzzles.sudoku import save_csv
    from arc_pipeline.augment.puzzles.sudoku_gen import SudokuGenConfig, generate as gen
    from arc_pipeline import ui

    cfg = SudokuGenConfig(size=int(size), **options)
    with ui.progress(f"sudoku {size}x{size} {cfg.difficulty}", cfg.count + cfg.test_count, unit="puzzles") as advance:
        res = gen(cfg, on_progress=advance, workers=workers)
    report = {"files": _write(res, out, test_out, save_csv), "difficulty": cfg.difficulty, **res.summary()}
    if as_json:
        click.echo(json.dumps(report))
        return
    ui.info(f"wrote {', '.join(report['files'])}: {report['train']} train + {report['test']} test puzzles "
            f"in {report['seconds']} s ({report['puzzles_per_s']}/s, {res.duplicates} symmetric duplicates dropped)")
    ui.info(f"rating (mean guesses): mean {report['rating_mean']}, max {report['rating_max']}; "
            f"{100 * report['needs_guess']:.1f}% need a guess; {report['clues_mean']} clues on average")
    ratings = [*res.train.ratings, *res.test.ratings]
    ui.table("difficulty (mean guesses)", ["rating", "puzzles", "share"], _histogram(ratings, SUDOKU_BINS))


@generate.command("maze")
@click.option("--size", type=click.IntRange(5, 30), default=30, show_default=True, help="Maze side (cells).")
@click.option("--min-path", type=click.IntRange(1), default=None,
              help="Minimum S-G distance in steps [default: 110 at 30x30, 30 at 10x10; perfect: 1.5 x size].")
@click.option("--count", type=click.IntRange(1), required=True, help="Train mazes to write.")
@click.option("--test-count", type=click.IntRange(0), default=0, show_default=True, help="Extra mazes for a test file.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--perfect", is_flag=True, help="Spanning-tree mazes (unique path) instead of random obstacles.")
@click.option("--out", type=CSV, required=True, help="Train CSV.")
@click.option("--test-out", type=CSV, default=None, help="Test CSV [default: <out>-test.csv].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@WORKERS
def maze(min_path: int | None, out: Path, test_out: Path | None, as_json: bool, workers: int | None, **options) -> None:
    """Mazes labelled with a shortest path (deterministic tie-break), in `# SGo` characters."""
    from arc_pipeline.augment.puzzles.maze import save_csv
    from arc_pipeline.augment.puzzles.maze_gen import MazeGenConfig, default_min_path, generate as gen
    from arc_pipeline import ui

    if min_path is None:
        min_path = default_min_path(options["size"], options["perfect"])
    cfg = MazeGenConfig(min_path=min_path, **options)
    kind = " perfect" if cfg.perfect else ""
    with ui.progress(f"maze {cfg.size}x{cfg.size}{kind}", cfg.count + cfg.test_count, unit="mazes") as advance:
        res = gen(cfg, on_progress=advance, workers=workers)
    report = {"files": _write(res, out, test_out, save_csv), "min_path": min_path, "perfect": cfg.perfect, **res.summary()}
    if as_json:
        click.echo(json.dumps(report))
        return
    ui.info(f"wrote {', '.join(report['files'])}: {report['train']} train + {report['test']} test mazes "
            f"in {report['seconds']} s ({report['mazes_per_s']}/s, {res.attempts} layouts tried)")
    from arc_pipeline.augment.puzzles.domain import length_edges

    lengths = [*res.train.ratings, *res.test.ratings]
    ui.table("S-G distance (BFS steps)", ["steps", "mazes", "share"], _histogram(lengths, length_edges(lengths)))
