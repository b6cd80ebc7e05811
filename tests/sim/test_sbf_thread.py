"""Program execution in LiteSVM must not disturb the floating point of the bot's threads.

Executing the SPL Token program leaves the executing thread's FPU so that numpy's float
remainder returns NaN; the ledger runs programs on a thread of its own (sim/sbf_thread.py).
"""

import numpy as np
from sim_world import BONK, USDC, make_world, sign_own_slot


def numpy_floats_are_sane() -> bool:
    return bool(np.float64(1_705_503_600.0) % 3600 == 0.0) and (
        str(np.float64(119.32012048201912)) == "119.32012048201912"
    )


async def test_spl_swaps_leave_numpy_arithmetic_alone():
    world = make_world()
    assert numpy_floats_are_sane()
    for _ in range(3):
        quote = world.maker.quote(USDC, BONK, 100 * 10**6, world.user.pubkey(), "v2")
        outcome = await world.maker.execute(
            quote.request_id, sign_own_slot(quote.transaction, world.user)
        )
        assert outcome.ok
        assert numpy_floats_are_sane()
        world.advance(1.0)
