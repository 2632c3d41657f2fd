"""The search engine: BM25 over the product documents with SQLite FTS5.

WebShop searches a Lucene (pyserini) BM25 index of "title, description, first bullet point,
options" and shows the top 50 hits. SQLite's FTS5 (built into Python's sqlite3) ranks with the
same BM25 formula (k1 = 1.2, b = 0.75); documents and queries go through the Porter stemmer, and
English stop words are dropped from queries, as Lucene's English analyzer does. A query is the
OR of its terms, so any product sharing a term is a candidate.

An index lives in memory, or in a file under `index_dir` named by the hash of the documents:
built once, then opened read-only by every process (written to a temporary file and renamed,
so concurrent builders never see a partial index).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
MAX_QUERY_TERMS = 64
SCHEMA_VERSION = "fts5-porter-v1"


def query_terms(query: str) -> list[str]:
    """The distinct lowercase alphanumeric terms of `query`, stop words dropped, in order."""
    seen: dict[str, None] = {}
    for term in re.findall(r"[a-z0-9]+", query.lower()):
        if term not in STOP_WORDS:
            seen.setdefault(term, None)
    return list(seen)[:MAX_QUERY_TERMS]


def documents_hash(documents: Sequence[str]) -> str:
    """A hash of the documents (and the index schema): the index file's name."""
    digest = hashlib.sha1(SCHEMA_VERSION.encode())
    for doc in documents:
        digest.update(doc.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def _fill(connection: sqlite3.Connection, documents: Sequence[str]) -> None:
    connection.execute("CREATE VIRTUAL TABLE docs USING fts5(contents, tokenize='porter unicode61')")
    connection.executemany("INSERT INTO docs(rowid, contents) VALUES (?, ?)", enumerate(documents))
    connection.commit()


def _require_fts5() -> None:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.OperationalError as err:
        raise RuntimeError(
            f"this Python's sqlite3 (SQLite {sqlite3.sqlite_version}) lacks FTS5, which the WebShop "
            "search engine needs; use a Python whose SQLite has FTS5 (python.org and Debian builds do)"
        ) from err


class SearchIndex:
    """BM25 search over `documents`; `search` returns document positions, best first.

    index_dir: keep the index in `<index_dir>/webshop-<hash>.sqlite` (built if missing);
        None keeps it in memory (building 20k documents takes ~0.1 s).
    """

    def __init__(self, documents: Sequence[str], index_dir: str | None = None):
        _require_fts5()
        self.size = len(documents)
        if index_dir is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            _fill(self._db, documents)
            return
        path = Path(os.path.expanduser(index_dir)) / f"webshop-{documents_hash(documents)}.sqlite"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            try:
                with sqlite3.connect(tmp) as building:
                    _fill(building, documents)
                building.close()
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def search(self, query: str, limit: int) -> list[int]:
        """Positions of the top `limit` documents for `query` (ties broken by position)."""
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        rows = self._db.execute(
            "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs), rowid LIMIT ?", (match, limit)
        )
        return [row[0] for row in rows]

    def close(self) -> None:
        self._db.close()
