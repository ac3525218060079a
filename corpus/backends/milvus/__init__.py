"""The Milvus backend: an index served by Milvus (Milvus Lite in a file, or a server).

Locations: ``milvus:PATH.db`` (Milvus Lite, embedded, for one machine) or
``milvus://HOST:PORT[/NAME]`` (a Milvus standalone or cluster); ``NAME``
(default ``corpus``) is the index's name there.

One generation is a collection, ``NAME__g<time>_<random>`` (and its ``_meta``
companion, below); the one row
of the collection ``NAME__current`` names the published one (and on a server
the alias ``NAME`` follows it; Milvus Lite implements no aliases), so a build
publishes with one upsert, atomic for readers, and a killed build leaves a
collection nothing names, which the next build drops. A collection's rows are of three
kinds (pieces in the first, the rest in ``_meta``):

* ``piece``: a window of a paragraph with its embedding (``dense``), its
  paragraph's number and offsets; the first piece of a paragraph (its head)
  also holds the paragraph's text in ``body`` and its article's title in ``title``,
  from which Milvus's own BM25 function (English analyzer) makes the sparse vectors
  the keyword side searches (both searched, the scores summed with the title's weighed
  0.3, as the folder backend's BM25F weighs its title field);
* ``article``: an article's id and content hash (what incremental builds compare);
* ``term``: how many paragraphs hold an analysed term (``owner``: the term, ``seq``: the
  count), for the answerer's term weights;
* ``chunk``: pieces of longer texts kept whole (an article's text, its record,
  the manifest), 16,000 characters each, as Milvus caps a string at 64 KB.

Fusion stays in :mod:`qa.fusion`, so rankings compare across backends; the
analyzer differs from Whoosh's (see docs/quality.md).
"""

from .client import parse_location
from .reader import MilvusReader
from .writer import MilvusBackend, MilvusDraft

#: what :mod:`corpus.backend`'s registry opens
Reader = MilvusReader
Backend = MilvusBackend

__all__ = ["Backend", "MilvusBackend", "MilvusDraft", "MilvusReader", "Reader", "parse_location"]
