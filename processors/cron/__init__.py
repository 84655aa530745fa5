"""Cron triggers (docs/cron.md): each tick of each cron trigger fires once across the namespace.

    functions.register_trigger("cron", "reports::tick", {"expression": "*/5 * * * * *"})

One worker leads (the holder of the one partition of `<ns>.cron` in the group `<ns>.cron`); it
writes each due tick's invocation and its progress in one transaction of a fenced producer.

- `plan.py`: which ticks are due (pure), the payload, the invocation ids;
- `progress.py`: reading and writing the progress records (`CronTicked`);
- `round.py`: one leadership term: fencing, then the firing rounds;
- `election.py`: the group membership that decides who leads, with its watchdog;
- `runtime.py`: `install`, wired into the worker by `processors/app.py`.
"""
