"""The paper's three-stage system as one resumable run: synth -> filter -> stage 1 -> stage 2 -> merge.

It composes the verbs (synth, train, merge, eval) and so sits above all of them. ``config`` is the
recipe as typed data; each stage is a function of the run (``synthesis``, ``training``,
``merging``), evaluated by ``evaluation``; ``recipe`` runs them in order over the record in
``state``, and ``fingerprint`` keeps an edited recipe from being answered with old outputs.
"""
