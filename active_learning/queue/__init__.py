"""The labelling queue: which crop a labeller gets next, and why.

- `ranking`: `rank_queue` turns the stored scores of a model version into each waiting crop's
  `queue_score` (larger is served first, 0 = not ranked) and `queue_reason`.
- `serving`: the next-crop query (QUEUE_ORDER, index `crop_queue_order`) serves the crops
  assigned to the labeller first, then pins, then admin boosts (focus is a boost of the matching
  crops), then the ranking; it never sorts the pool. It claims the crop with a lease
  (annotations.leases).
- `curation`: what admins do to the queue: pin, boost, bury, tag, assign, skip, requeue, focus,
  and the strategy and random share.
- `listing`: the ranked queue as the admin page shows it.

The order of a split's waiting crops:
- train: the strategy's order, its head re-picked for diversity (so the top is not ten
  near-identical crops, nor crops of a few images while others wait), with a `random_fraction`
  of the slots, spread evenly down the queue, given to crops drawn at random from the whole pool
  ("random-control"), so that the payoff of active learning over random sampling can be
  measured on what labellers actually label; crops no version scored yet follow in random order
  ("random-unscored"). Before any model has scored anything the whole queue is random
  ("random-cold-start"), which is a sound first seed set. The `random` strategy is the control:
  a plain uniform order, with no diversity head and no extra control slots.
- validation: always random ("random-validation"): labelling validation crops in an uncertainty
  order would bias the evaluation that decides promotions.
"""
