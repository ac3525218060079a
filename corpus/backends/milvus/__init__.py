"""The Milvus backend: an index served by Milvus (Milvus Lite in a file, or a server).

Locations: ``milvus:PATH.db`` (Milvus Lite, embedded, for one machine) or
``milvus://HOST:PORT[/NAME]`` (a Milvus standalone or cluster); ``NAME``
(default ``corpus``) is the index's name there.

An index is a set of three collections, ``NAME__s<time>_<random>`` followed by:

* ``_pieces``: a window of a paragraph with its embedding (``dense``), its paragraph's
  number and offsets;
* ``_keyword``: one row per paragraph, its text (``body``) and its article's title, from
  which Milvus's own BM25 function makes the sparse vectors the keyword side searches
  (both searched, the title's score weighed 0.3 as the folder backend's BM25F weighs its
  title field); a collection of its own so that BM25's statistics count paragraphs;
* ``_meta``: articles (id and content hash, what incremental builds compare), their texts
  and records in chunks of 16,000 characters (Milvus caps a string at 64 KB), how many
  paragraphs hold each analysed term (for the answerer's term weights), and manifests.

Every row carries the generation that added it and the one that removed it (see
:mod:`.writer`), and what filters read (``path``, ``day``, ``facets``; see
:func:`.client.where_expression`). The one row of the collection ``NAME__current``
names the published set and generation, so a build publishes with one upsert, atomic
for readers. Fusion stays in :mod:`qa.fusion`, so rankings compare across backends.
"""

from .client import parse_location
from .reader import MilvusReader
from .writer import MilvusBackend, MilvusDraft

#: what :mod:`corpus.backend`'s registry opens
Reader = MilvusReader
Backend = MilvusBackend

__all__ = ["Backend", "MilvusBackend", "MilvusDraft", "MilvusReader", "parse_location", "Reader"]
