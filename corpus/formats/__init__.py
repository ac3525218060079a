"""Readers of documents that are not plain text: PDF (:mod:`.pdf`), Word (:mod:`.word`) and
EPUB (:mod:`.ebook`). Each returns an :class:`corpus.documents.Article` or a
:class:`corpus.documents.Skipped` with the reason, and imports its library only when a file
of its kind is read."""
