"""The engines that hold an index, each in its own package behind :mod:`corpus.backend`.

- :mod:`corpus.backends.folder`: a folder of generations, each a Whoosh index, a FAISS
  index and an SQLite store, published by replacing one file.
- :mod:`corpus.backends.milvus`: Milvus (Milvus Lite in a file, or a server), one
  collection per generation, published by one upsert.

:mod:`corpus.backends.analysis` is the text analysis both keyword sides share. Nothing
outside this package imports an engine (Whoosh, FAISS, pymilvus).
"""
