"""Scope-wide reads by one owner, of its partition: state::list, state::list_groups, state::digest.

The caller asks every partition's owner and merges (processors/state/client.py). Each owner
answers from its view plus the changes of the batch it is running, so a read sees every write
the log holds before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iii_kafka.state.commands import Entry, entry_of, is_live
from iii_kafka.state.digest import digest_entries, format_digests
from iii_kafka.state.keys import scope_prefix, split_state_key

if TYPE_CHECKING:
    from .batch import Batch

__all__ = ["answer_scope_wide"]


def answer_scope_wide(batch: "Batch", partition: int, command: Any) -> Any:
    function = command["function"]
    if function == "list":
        items = _entries(batch, partition, command["scope"])
        return {"items": [[split_state_key(skey)[1], entry.value] for skey, entry in sorted(items.items())
                          if entry.exists]}
    if function == "list_groups":
        return {"groups": sorted(_live_scopes(batch, partition))}
    scopes = [command["scope"]] if command["scope"] else sorted(_live_scopes(batch, partition))
    live = ((scope, split_state_key(skey)[1], entry.version, entry.value)
            for scope in scopes for skey, entry in _entries(batch, partition, scope).items() if entry.exists)
    return format_digests(digest_entries(live))


def _entries(batch: "Batch", partition: int, scope: str) -> dict[bytes, Entry]:
    decode = batch.owner.codec.decode
    found = {skey: entry_of(decode(data), data) for skey, data in batch.owner.view.items(partition, scope)}
    prefix = scope_prefix(scope)
    found.update({skey: entry for (p, skey), entry in batch.pending.items()
                  if p == partition and skey.startswith(prefix)})
    return found


def _live_scopes(batch: "Batch", partition: int) -> set[str]:
    scopes = set(batch.owner.view.scopes(partition, is_live(batch.owner.codec.decode)))
    touched = {split_state_key(skey)[0] for (p, skey) in batch.pending if p == partition}
    for scope in touched:  # this batch may have created or emptied them
        if any(entry.exists for entry in _entries(batch, partition, scope).values()):
            scopes.add(scope)
        else:
            scopes.discard(scope)
    return scopes
