"""The outbox's next retransmission time stays right however tracks, ACKs and retries mix."""

from __future__ import annotations

import random

from tpdevice_sim.reliable import ReliableOutbox


def test_next_due_follows_every_change() -> None:
    rng = random.Random(4)
    outbox = ReliableOutbox(interval_s=0.2, max_retries=3)
    model: dict[int, list[float]] = {}  # seq -> [due_s, retries_left]
    now_s = 0.0
    for _ in range(5000):
        now_s += rng.choice((0.0, 0.0, 0.05, 0.3))
        roll, seq = rng.random(), rng.randrange(12)
        if roll < 0.4:
            outbox.track(seq, b"frame", now_s)
            model[seq] = [now_s + 0.2, 3]
        elif roll < 0.7:
            assert outbox.ack(seq) == (model.pop(seq, None) is not None)
        else:
            sent = outbox.due(now_s)
            due = [s for s, (due_s, _) in model.items() if now_s >= due_s]
            assert len(sent) == len(due)
            for s in due:
                entry = model[s]
                entry[0] += 0.2
                if entry[0] <= now_s:  # a long gap: the pace resumes from now
                    entry[0] = now_s + 0.2
                entry[1] -= 1
                if entry[1] <= 0:
                    del model[s]
        expected = min((due_s for due_s, _ in model.values()), default=None)
        assert outbox.next_due_s() == expected
        assert len(outbox) == len(model)
