"""Simulated labelling: does active learning pay, measured on the real loop.

A labelled dataset (images/<id>.png + masks/<id>.png) is ingested into a fresh project per
(strategy, seed). Validation images (a fixed share, chosen by content hash, the same for every
strategy and seed) come with their labels: they are the evaluation set. The train images come
without labels; their ground truth is kept here and "typed in" by a simulated labeller:

* round 0: the same seed set of labelled train crops for every strategy at a given seed,
  then a training job (so every strategy starts from the same model);
* each next round: the labeller asks the queue for its next crop K times (`lease_next_crop`,
  so pins, the random control share and diversity apply as in production) and submits each
  crop's ground truth as its correction (`submit_annotation`, source "simulation"), then a
  training job fine-tunes from the active version, evaluates the candidate on the validation
  crops and promotes it only if it is better; a promotion re-predicts, re-scores and re-ranks.

Every job is a real Job row run by `jobs.run_job` in this process: the simulation is the
project's worker. A round records the candidate's AP whether or not it was promoted, so the
curves are not flattened by the promotion gate. A run that starts from trained weights also
records them as round -1 (no labels): round 0's training job serves and evaluates them first
(active_learning.start_model), and its candidate has to beat them. A promotion queues the
prediction job, which predicts, scores and re-ranks the pool; the simulation runs it before the
next round's labelling.

The modules, in the order a run uses them (`manage.py simulate_labelling` drives them all):

* `dataset`: the folder's (image, label image) pairs, the validation split, ingestion;
* `labeller`: the simulated labeller, who knows the train images' ground truth, and counts the
  actions each correction takes from what the crop was served (active_learning.effort);
* `assist`: the assisted tools it counts them with (the editor's own proposals);
* `run`: the loop itself, per (strategy, seed), with the simulation as the project's worker;
* `results`: one row per round (`RoundResult`) and its CSV;
* `summary`: curves over seeds, each strategy's share of random sampling's labels (in crops,
  cells and actions), and the actions per cell of each round's labels;
* `plot`: the curves as a figure.

`results`, `summary` and `plot` read rows only (no database), so they also serve merged CSVs.
"""

from __future__ import annotations


class SimulationError(Exception):
    """The simulated loop cannot go on (a job failed, the dataset is unusable)."""
