"""Maze domain: characters and tokens, CSV files, dihedral augmentation, BFS, scoring, an ExampleSource.

A maze is a square grid stored flat, row-major, as ids: PAD 0, '#' wall 1, ' ' open 2, 'S' start 3,
'G' goal 4, 'o' path 5 (vocabulary 6). The answer is the question with one shortest S-G path's inner
cells marked 'o'. `rating` in the CSV is the BFS distance from S to G in steps ('o' cells + 1).

Label tie-break (shortest paths are rarely unique): walk from S, always stepping to the first
neighbour, in the order up, right, down, left, whose BFS distance to G is one less.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arc_pipeline.arc.errors import ArcError
from arc_pipeline.augment.jit import KERNEL, njit
from arc_pipeline.augment.puzzles.csvfile import PuzzleSet, read_rows, write_rows
from arc_pipeline.augment.puzzles.tokens import SHARED_PUZZLE_ID, SharedIdSource, apply_tokens

CHARS = "# SGo"
WALL, OPEN, START, GOAL, PATH = 1, 2, 3, 4, 5
VOCAB = 6
PUZZLE_ID = SHARED_PUZZLE_ID  # one shared puzzle id, as for Sudoku


MazeSet = PuzzleSet  # mazes from a CSV file or a generator: ids (N, size*size) uint8; ratings = S-G distance.


@njit(**KERNEL)
def _visit(walls, dist, queue, tail, n, d):
    if not walls[n] and dist[n] < 0:
        dist[n] = d
        queue[tail] = n
        return tail + 1
    return tail


@njit(**KERNEL)
def _bfs(walls, size, start, dist):
    """Distances (steps) from `start` over non-wall cells into `dist`; -1 where unreachable."""
    dist[:] = -1
    queue = np.empty(size * size, np.int32)
    queue[0] = start
    dist[start] = 0
    head, tail = 0, 1
    while head < tail:
        c = queue[head]
        head += 1
        r, k = c // size, c % size
        d = dist[c] + 1
        if r > 0:
            tail = _visit(walls, dist, queue, tail, c - size, d)
        if k < size - 1:
            tail = _visit(walls, dist, queue, tail, c + 1, d)
        if r < size - 1:
            tail = _visit(walls, dist, queue, tail, c + size, d)
        if k > 0:
            tail = _visit(walls, dist, queue, tail, c - 1, d)


@njit(**KERNEL)
def _mark_path(to_goal, size, start, out):
    """Mark the tie-broken shortest path from `start` as PATH in `out` (S and G stay as they are)."""
    c = start
    while to_goal[c] > 0:
        r, k = c // size, c % size
        for dr, dk in ((-1, 0), (0, 1), (1, 0), (0, -1)):
            rr, kk = r + dr, k + dk
            if 0 <= rr < size and 0 <= kk < size and to_goal[rr * size + kk] == to_goal[c] - 1:
                c = rr * size + kk
                break
        if to_goal[c] > 0:
            out[c] = PATH


def bfs(question: np.ndarray, size: int, start: int) -> np.ndarray:
    """BFS distances (int32, -1 unreachable) from cell `start` of a maze in ids."""
    q = np.asarray(question).ravel()
    if q.shape != (size * size,) or not 0 <= start < size * size:
        raise ValueError(f"maze of {q.shape} cells and start {start} do not fit a {size}x{size} grid")
    dist = np.empty(size * size, np.int32)
    _bfs((q == WALL).astype(np.uint8), size, start, dist)
    return dist


def label(question: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """(answer with the tie-broken shortest path marked, S-G distance); distance -1 if G is unreachable."""
    q = np.asarray(question, np.uint8).ravel()
    s, g = _endpoint(q, START, "S"), _endpoint(q, GOAL, "G")
    to_goal = bfs(q, size, g)
    out = q.copy()
    if to_goal[s] > 0:
        _mark_path(to_goal, size, s, out)
    return out, int(to_goal[s])


def _endpoint(q: np.ndarray, token: int, name: str) -> int:
    where = np.flatnonzero(q == token)
    if len(where) != 1:
        raise ValueError(f"maze has {len(where)} '{name}' cells, expected 1")
    return int(where[0])


@dataclass(frozen=True)
class MazeScore:
    n: int
    exact: float  # prediction equals the label
    valid_optimal: float  # prediction marks some shortest S-G path and changes nothing else


def path_problem(pred: np.ndarray, question: np.ndarray, size: int) -> str | None:
    """Why `pred` is not `question` plus exactly the inner cells of one shortest S-G path; None when it is."""
    p, q = np.asarray(pred).ravel(), np.asarray(question).ravel()
    marked = p == PATH
    if ((p != q) & ~marked).any():
        return "it changes cells other than marking the path"
    if (marked & (q != OPEN)).any():
        return "it marks a wall, S or G as path"
    s, g = _endpoint(q, START, "S"), _endpoint(q, GOAL, "G")
    best = bfs(q, size, s)[g]
    if best < 0:
        return "G is not reachable from S"
    # walking only on marked cells, G reachable in `best` steps means the marks are one shortest path
    on_path = np.where(marked | (q == START) | (q == GOAL), OPEN, WALL).astype(np.uint8)
    walk = bfs(on_path, size, s)[g]
    if walk < 0:
        return "the marked cells do not connect S to G"
    if marked.sum() != best - 1 or walk != best:
        return f"it marks {int(marked.sum())} cells, but a shortest S-G path has {best - 1} inner cells"
    return None


def valid_optimal(pred: np.ndarray, question: np.ndarray, size: int) -> bool:
    """True when `pred` is `question` plus exactly the inner cells of one shortest S-G path."""
    try:
        return path_problem(pred, question, size) is None
    except ValueError:  # not one S and one G: not a valid answer either
        return False


def score(preds: np.ndarray, questions: np.ndarray, labels: np.ndarray, size: int) -> MazeScore:
    """Exact-match and valid-and-optimal accuracy of predicted mazes (ids, one maze per row)."""
    preds, questions, labels = (np.asarray(a).reshape(len(a), -1) for a in (preds, questions, labels))
    exact = (preds == labels).all(1)
    ok = np.array([valid_optimal(p, q, size) for p, q in zip(preds, questions)], bool)
    n = len(preds)
    return MazeScore(n, float(exact.mean()) if n else 0.0, float(ok.mean()) if n else 0.0)


def dihedral_positions(size: int) -> np.ndarray:
    """(8, cells): source cell of every output cell for identity, rot90, rot180, rot270, and their transposes."""
    idx = np.arange(size * size).reshape(size, size)
    maps = [np.rot90(idx, k) for k in range(4)] + [np.rot90(idx, k).T for k in range(4)]
    return np.stack([m.ravel() for m in maps]).astype(np.int32)


def apply_dihedral(mazes: np.ndarray, ops: np.ndarray, size: int) -> np.ndarray:
    """Apply dihedral op `ops[b]` (0..7, see `dihedral_positions`) to maze row b."""
    ops = np.asarray(ops)
    if ops.min(initial=0) < 0 or ops.max(initial=0) > 7:
        raise ValueError("dihedral ops must be in 0..7")
    pos = dihedral_positions(size)[ops]
    tmap = np.tile(np.arange(VOCAB, dtype=np.uint8), (len(ops), 1))
    return apply_tokens(np.asarray(mazes, np.uint8).reshape(len(ops), -1), pos, tmap)


def load_csv(path: str | Path) -> MazeSet:
    """Read `source,question,answer,rating` with `# SGo` characters, one square maze per row."""
    rows = read_rows(path, "maze")
    path, q, a = rows.path, rows.questions, rows.answers
    size = int(round(len(q[0]) ** 0.5))
    lut = np.zeros(256, np.uint8)
    for i, ch in enumerate(CHARS):
        lut[ord(ch)] = i + 1

    def ids(col: list[str], name: str) -> np.ndarray:
        bad = next((i for i, s in enumerate(col) if s is None or len(s) != size * size), None)
        if bad is not None:
            raise ArcError(f"{path}: row {bad + 2}: {name} is not {size * size} characters (a {size}x{size} maze, row-major)")
        out = lut[np.frombuffer("".join(col).encode("latin-1", errors="replace"), np.uint8)].reshape(len(col), -1)
        if (out == 0).any():
            row = int(np.argwhere((out == 0).any(1))[0, 0])
            raise ArcError(f"{path}: row {row + 2}: {name} has characters other than {CHARS!r}")
        return out

    questions, answers = ids(q, "question"), ids(a, "answer")
    for row, (qq, aa) in enumerate(zip(questions, answers)):
        why = _question_problem(qq) or path_problem(aa, qq, size)
        if why is not None:
            raise ArcError(f"{path}: row {row + 2}: the answer is not a shortest S-G path of its question: {why}; "
                           "fix or drop that row")
    return MazeSet(size, questions, answers, rows.ratings, rows.sources)


def _question_problem(q: np.ndarray) -> str | None:
    counts = {name: int((q == tok).sum()) for name, tok in (("S", START), ("G", GOAL), ("o", PATH))}
    if counts["S"] != 1 or counts["G"] != 1:
        return f"the question has {counts['S']} 'S' and {counts['G']} 'G' cells, expected one each"
    if counts["o"]:
        return f"the question already marks {counts['o']} path cells"
    return None


def to_text(maze: np.ndarray) -> str:
    return "".join(CHARS[int(v) - 1] for v in np.asarray(maze).ravel())


def save_csv(path: str | Path, mset: MazeSet) -> None:
    """Write atomically; fields are quoted because they hold spaces and '#'."""
    write_rows(path, zip(mset.sources, map(to_text, mset.questions), map(to_text, mset.answers), mset.ratings))


class MazeSource(SharedIdSource):
    """ExampleSource over mazes; with `augment`, each example gets a random dihedral op drawn from `seed`."""

    def __init__(self, mset: MazeSet, *, augment: bool = False):
        self.size = mset.size
        super().__init__(mset.questions, mset.answers, VOCAB, self._dihedral if augment else None)

    def _dihedral(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        ops = rng.integers(0, 8, len(x))
        return apply_dihedral(x, ops, self.size), apply_dihedral(y, ops, self.size)


def open_csv(path: str | Path, *, augment: bool = False) -> MazeSource:
    """`MazeSource(load_csv(path), augment=augment)`."""
    return MazeSource(load_csv(path), augment=augment)
