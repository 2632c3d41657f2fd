import os

from rlx.envs.webshop import SearchIndex
from rlx.envs.webshop.catalogue import search_document
from rlx.envs.webshop.search import query_terms
from tests.envs.webshop.tiny_shop import SHOP_PRODUCTS

DOCS = [
    "red running shoes for men",
    "blue running shorts",
    "red dress with pockets",
    "wireless earbuds, red and black",
    "kitchen table and chairs",
]


def test_query_terms_drop_stop_words_and_symbols():
    assert query_terms('Red "shoes" for the (men) AND* red') == ["red", "shoes", "men"]
    assert query_terms("the and of") == []


def test_bm25_ranking():
    index = SearchIndex(DOCS)
    assert index.search("red running shoes", 50) == [0, 1, 2, 3]  # all terms, then "running", then "red"
    assert index.search("running", 50) == [1, 0]  # shorter document first
    assert index.search("red", 2) == [2, 0]
    assert index.search("chair", 50) == [4]  # porter stemming: chair ~ chairs
    assert index.search("the of and", 50) == [] and index.search("zebra", 50) == []
    assert index.search('"; DELETE FROM docs; --', 50) == [] and index.search("table*", 50) == [
        4
    ]  # never SQL/FTS syntax


def test_index_file_is_built_once_and_shared(tmp_path):
    first = SearchIndex(DOCS, str(tmp_path))
    (path,) = tmp_path.glob("webshop-*.sqlite")
    mtime = os.stat(path).st_mtime_ns
    second = SearchIndex(DOCS, str(tmp_path))
    assert os.stat(path).st_mtime_ns == mtime and list(tmp_path.iterdir()) == [path]
    assert second.search("red", 50) == first.search("red", 50) == SearchIndex(DOCS).search("red", 50)
    SearchIndex(DOCS[:3], str(tmp_path))
    assert len(list(tmp_path.glob("webshop-*.sqlite"))) == 2  # other documents, other file


def test_search_document_fields():
    assert search_document(SHOP_PRODUCTS[0]) == (
        "lumora sulfate free argan oil shampoo a gentle shampoo. sulfate free formula. "
        "scent: lavender, rose, and size: 8 fl oz, 16 fl oz"
    )
