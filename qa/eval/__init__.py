"""Measuring and training: retrieval quality on BEIR datasets (:mod:`.retrieval`), answers on
question sets (:mod:`.answers`) and the answer models' training (:mod:`.train`).

The library never imports this package; ``corpus eval``, ``corpus eval-qa``, ``make bench``
and ``make train`` do.
"""
