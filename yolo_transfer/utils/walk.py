"""`walk_files(root)`: every file under a folder, through symlinked folders, each real folder once.

Datasets on shared storage are assembled from links (`JPEGImages -> /data/...`), which Ultralytics' listing follows
and `Path.rglob` does not (before Python 3.13), so every reader that walks a tree goes through here. A folder reached
again (a link back up the tree, a second link to it) is not walked again: a loop ends, no file is listed twice.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Iterator


def walk_files(root: str | os.PathLike, pattern: str = "*") -> Iterator[Path]:
    """Files (or links to files) under `root` whose name matches `pattern` (case-sensitive, as `rglob`), in sorted
    order within each folder, each as a path under `root` (not resolved to a link's target)."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # walked already, by another path to it
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        # real folders before links, so a folder present both ways is listed under its own path
        dirnames.sort(key=lambda d: (os.path.islink(os.path.join(dirpath, d)), d))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if fnmatch.fnmatchcase(name, pattern) and os.path.isfile(path):
                yield Path(path)
