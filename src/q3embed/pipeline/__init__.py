"""The paper's three-stage system as one resumable run: synth -> filter -> stage 1 -> stage 2 -> merge.

It composes the verbs (synth, train, merge, eval) and so sits above all of them.
"""
