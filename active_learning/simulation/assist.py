"""The assisted tools as the simulated labeller would use them: the editor's own proposals.

The cost model (active_learning.effort) takes the tools as an `Assist` built from a proposal
function. Here that function is the one the editor's Assist tool calls (`POST
/api/crops/{id}/propose/`, active_learning.proposals.propose): on the crop the labeller holds a
lease on, a click proposes a cell from the serving prediction's stored flows, or, where the crop
has none (no model yet), from a classical threshold + watershed; a redo proposes another outline
for a predicted cell. As in the editor (proposal.js) a proposed cell takes only pixels no other
predicted cell holds (a redo also those of the cell it replaces). Proposals stop after the API's
time limit (proposals.TIME_LIMIT_S) as a labeller's would, so a busy machine may find fewer.
"""

from __future__ import annotations

import numpy as np
from django.contrib.auth.models import AbstractBaseUser

from active_learning import proposals
from active_learning.effort import Assist, Propose, proposal_assist
from active_learning.models import Prediction
from active_learning.simulation.labeller import AssistFor
from annotations.masks import decode_png
from annotations.models import Crop


def editor_assist_for(user: AbstractBaseUser) -> AssistFor:
    """The tools on each crop `user` labels (and holds the lease on while it does)."""

    def assist_for(crop: Crop, prediction: Prediction | None) -> Assist:
        served = decode_png(bytes(prediction.mask_png)) if prediction is not None else None
        return proposal_assist(editor_propose(crop, user, served))

    return assist_for


def editor_propose(crop: Crop, user: AbstractBaseUser, served: np.ndarray | None) -> Propose:
    """A click at (row, col) as the editor sends it: click-to-add, or a redo of served cell `replacing`."""

    def propose(point: tuple[int, int], replacing: int) -> np.ndarray | None:
        row, col = point
        x, y = col + 0.5, row + 0.5  # the pixel's centre, in crop pixels (x: column)
        if replacing and served is not None:
            result = proposals.propose(crop=crop, user=user, mode="redo", x=x, y=y, cell=served == replacing)
        else:
            result = proposals.propose(crop=crop, user=user, mode="point", x=x, y=y)
        if result.cells == 0:
            return None
        cell = result.mask == result.mask[row, col] if result.mask[row, col] else result.mask > 0
        return cell if served is None else cell & ((served == 0) | (served == replacing))

    return propose
